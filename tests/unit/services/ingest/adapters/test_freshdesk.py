"""Freshdesk: numeric priority and status codes mapped to names; the classic webhook."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.events import SUPPORT_TICKET, SUPPORT_TICKET_UPDATED, SupportTicket, derived_id
from services.ingest.adapters import freshdesk
from services.ingest.adapters.base import AdapterError

from .fixtures import CTX, RECEIVED, load


def test_an_api_ticket_maps_codes_to_names() -> None:
    [out] = freshdesk.adapt(load("freshdesk_ticket_api.json"), CTX)

    assert out.event.id == derived_id(SUPPORT_TICKET, "/sources/freshdesk", "1289")
    assert out.key == "company:5000150317"
    ticket = SupportTicket.model_validate(out.event.data)
    assert ticket.priority == "urgent"  # 4
    assert ticket.status == "open"  # 2
    assert ticket.subject == "Rechnung lässt sich nicht herunterladen"
    assert ticket.description == "Der Button PDF herunterladen reagiert nicht. Browser: Firefox 124"
    assert ticket.requester_email == "j.mueller@example.de"
    assert ticket.organization == "Müller & Söhne GmbH"
    assert ticket.component == "billing-ui"
    assert ticket.custom_fields == {
        "cf_component": "billing-ui",
        "cf_contract_tier": "gold",
        "cf_seats": 250,
    }


def test_the_classic_webhook_with_placeholder_values() -> None:
    [out] = freshdesk.adapt(load("freshdesk_webhook_classic.json"), CTX)

    ticket = SupportTicket.model_validate(out.event.data)
    assert ticket.priority == "high"  # "3"
    assert ticket.status == "pending"
    assert ticket.description == "注文番号 A-1002 の配送予定日を教えてください。"
    assert ticket.tags == ["delivery", "配送"]
    assert ticket.organization is None  # an empty placeholder
    assert out.key == "hanako.sato@gmail.com"  # a public mail domain keeps the address
    assert ticket.created_at is None  # a date written for people is not guessed
    assert out.event.time == RECEIVED


@pytest.mark.parametrize(
    ("code", "name"), [(1, "low"), ("2", "normal"), (3, "high"), ("Urgent", "urgent")]
)
def test_every_priority_code(code: object, name: str) -> None:
    assert freshdesk.priority(code, ("p",)) == name


@pytest.mark.parametrize(
    ("code", "name"),
    [(2, "open"), (3, "pending"), (4, "resolved"), (5, "closed"), (6, "waiting_on_customer"),
     ("Waiting on Third Party", "waiting_on_third_party")],
)  # fmt: skip
def test_every_status_code(code: object, name: str) -> None:
    assert freshdesk.status(code, ("s",)) == name


def test_an_updated_ticket_is_also_an_update_event() -> None:
    payload = load("freshdesk_ticket_api.json") | {"updated_at": "2026-03-02T09:30:00Z"}
    ticket, update = freshdesk.adapt({"ticket": payload}, CTX)
    assert update.event.type == SUPPORT_TICKET_UPDATED
    assert update.event.data["ticket_event_id"] == ticket.event.id


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"priority": 9}, ["body", "priority"]),
        ({"status": "1"}, ["body", "status"]),
        ({"custom_fields": ["x"]}, ["body", "custom_fields"]),
        ({"id": ""}, ["body", "id"]),
    ],
)
def test_bad_values_name_the_field(change: dict[str, Any], loc: list[Any]) -> None:
    with pytest.raises(AdapterError) as caught:
        freshdesk.adapt(load("freshdesk_ticket_api.json") | change, CTX)
    assert caught.value.errors[0]["loc"] == loc
