from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas import topics
from schemas.events import CloudEvent, SupportTicket, derived_id, envelope


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
