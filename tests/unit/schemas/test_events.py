from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas import topics
from schemas.events import (
    CloudEvent,
    ProductionCapacity,
    SalesNote,
    SupportTicket,
    derived_id,
    envelope,
)


def make_ticket(**overrides: object) -> SupportTicket:
    fields: dict[str, object] = {
        "subject": "請求書の画面が分かりにくい",
        "description": "<p>支払い方法の変更ボタンが見つかりません</p>",
        "requester_email": "taro@example.co.jp",
        "priority": "high",
        "component": "Billing-UI",
    }
    fields.update(overrides)
    return SupportTicket.model_validate(fields)


def test_ticket_normalises_component_and_keeps_text() -> None:
    ticket = make_ticket()
    assert ticket.component == "billing-ui"
    assert ticket.subject == "請求書の画面が分かりにくい"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subject": "  "}, "subject"),
        ({"requester_email": "not-an-address"}, "requester_email"),
        ({"priority": "critical"}, "priority"),
        ({"component": "has space"}, "component"),
        ({"created_at": "2026-11-20T10:00:00"}, "created_at"),  # naive time: ambiguous
        ({"surprise": 1}, "surprise"),
    ],
)
def test_ticket_rejects_with_the_field_named(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        make_ticket(**overrides)
    assert field in {str(loc) for e in err.value.errors() for loc in e["loc"]}


def test_envelope_round_trips_utf8() -> None:
    ticket = make_ticket()
    event = envelope(
        type_="support.ticket",
        source="/sources/support",
        data=ticket,
        time=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        event_id=derived_id("support.ticket", "/sources/support", "ZD-1"),
    )
    raw = event.to_bytes()
    assert "請求書".encode() in raw
    back = CloudEvent.from_bytes(raw)
    assert back == event
    assert SupportTicket.model_validate(back.data) == ticket


def test_derived_ids_are_stable_and_distinct() -> None:
    assert derived_id("task", "e1") == derived_id("task", "e1")
    assert derived_id("task", "e1") != derived_id("task", "e2")
    assert uuid.UUID(derived_id("task", "e1")).version == 5


@pytest.mark.parametrize(
    ("team", "ok"),
    [("billing", True), ("support-l2", True), ("Billing", False), ("a b", False), ("", False)],
)
def test_team_topic(team: str, ok: bool) -> None:
    if ok:
        assert topics.team_topic(team) == f"handoff.team.{team}"
    else:
        with pytest.raises(ValueError, match="team name"):
            topics.team_topic(team)


def make_note(**overrides: object) -> SalesNote:
    fields: dict[str, object] = {
        "intent": "rush_order",
        "subject": "500台を12日までに",
        "rep_email": "sato@ourco.jp",
        "crm_account_id": "0015g00000XyZ",
        "product_line": "pumps-a",
        "quantity": 500,
        "due_date": "2026-12-12",
    }
    fields.update(overrides)
    return SalesNote.model_validate(fields)


def test_rush_order_carries_line_quantity_and_date() -> None:
    note = make_note()
    assert (note.product_line, note.quantity, str(note.due_date)) == ("pumps-a", 500, "2026-12-12")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"quantity": None}, "rush_order needs quantity"),
        ({"due_date": None, "product_line": None}, "needs product_line, due_date"),
        ({"intent": "deal_lost"}, "deal_lost needs loss_reason"),
        ({"intent": "lead_status_changed"}, "needs lead_status"),
        ({"crm_account_id": None}, "one of crm_account_id, company_id, customer_email"),
        ({"quantity": 0}, "greater than 0"),
        ({"currency": "yen"}, "String should match pattern"),
    ],
)
def test_sales_note_refuses_what_its_intent_lacks(
    overrides: dict[str, object], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        make_note(**overrides)


def test_deal_lost_with_reason_and_quote_without_line_are_fine() -> None:
    assert make_note(intent="deal_lost", loss_reason="competitor").loss_reason == "competitor"
    assert make_note(intent="quote_request", product_line=None, quantity=None).quantity is None


def test_capacity_update_needs_aware_time_and_some_days() -> None:
    doc = {"plant": "nagoya-1", "line": "pumps-a", "as_of": "2026-11-23T08:00:00+09:00"}
    update = ProductionCapacity.model_validate(
        {**doc, "free": [{"date": "2026-11-24", "units": 120}]}
    )
    assert update.free[0].units == 120
    with pytest.raises(ValidationError, match="at least 1 item"):
        ProductionCapacity.model_validate({**doc, "free": []})
    with pytest.raises(ValidationError, match="timezone"):
        ProductionCapacity.model_validate(
            {**doc, "as_of": "2026-11-23T08:00:00", "free": [{"date": "2026-11-24", "units": 1}]}
        )
