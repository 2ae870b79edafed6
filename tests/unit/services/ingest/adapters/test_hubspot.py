"""HubSpot objects: deals with string amounts, notes with HTML bodies, lifecycle stages."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from schemas.events import SALES_NOTE, SalesNote, derived_id
from services.ingest.adapters import hubspot
from services.ingest.adapters.base import AdapterError

from .fixtures import CTX, load


def test_a_won_deal() -> None:
    [out] = hubspot.adapt(load("hubspot_deal_won.json"), CTX)

    assert out.key == "company:9876543210"
    assert out.event.id == derived_id(
        SALES_NOTE, "/sources/hubspot", "deal", "13546372911", "closedwon"
    )
    note = SalesNote.model_validate(out.event.data)
    assert note.intent == "deal_won"
    assert note.amount == 48000.5  # "48000.50"
    assert note.due_date == date(2026, 3, 20)
    assert note.rep_email == "vertrieb@handoff-demo.com"
    assert note.subject == "ミュラー GmbH – Linie 3 Erweiterung"


def test_a_lost_deal_maps_the_reason() -> None:
    deal = load("hubspot_deal_won.json")
    deal["properties"] |= {"dealstage": "closedlost", "closed_lost_reason": "Lost to competitor"}
    [out] = hubspot.adapt(deal, CTX)
    assert out.event.data["intent"] == "deal_lost"
    assert out.event.data["loss_reason"] == "competitor"


def test_a_note_and_a_contact_in_one_list() -> None:
    note_out, contact_out = hubspot.adapt(load("hubspot_note_quote.json"), CTX)

    note = SalesNote.model_validate(note_out.event.data)
    assert note.intent == "quote_request"
    assert note.subject == "Kunde bittet um ein Angebot für 2.000 Stück."
    assert note.body == "Kunde bittet um ein Angebot für 2.000 Stück.\n\nFrist: Ende März."
    assert note.company_id == "9876543210"  # a plain list of ids
    assert note.contact_id == "301"  # v3 {"results": [...]}
    assert note_out.event.id == derived_id(
        SALES_NOTE, "/sources/hubspot", "note", "27413612345", "2026-03-02T11:00:00+00:00"
    )  # hs_lastmodifieddate in epoch milliseconds

    contact = SalesNote.model_validate(contact_out.event.data)
    assert contact.lead_status == "sql"
    assert contact.customer_email == "lead@newcorp.example"
    assert contact_out.key == "newcorp.example"


def test_a_subscription_event_without_its_portal_is_refused_naming_it() -> None:
    events = [{"eventId": 1, "subscriptionType": "deal.propertyChange", "objectId": 1,
               "propertyName": "dealstage", "propertyValue": "closedwon"}]  # fmt: skip
    with pytest.raises(AdapterError) as caught:
        hubspot.adapt(events, CTX)
    assert caught.value.errors[0]["loc"] == ["body", 0, "portalId"]


def test_a_deal_without_an_owner_is_an_outcome_without_a_rep() -> None:
    """HubSpot sends deals whose ``hubspot_owner_id`` is empty; the outcome still counts."""
    deal = load("hubspot_deal_won.json") | {"owner": None}
    [out] = hubspot.adapt(deal, CTX)
    assert out.event.data["intent"] == "deal_won"
    assert out.event.data.get("rep_email") is None


def test_a_note_asking_without_an_owner_names_hubspots_owner_field() -> None:
    [note, _] = load("hubspot_note_quote.json")
    note = {k: v for k, v in note.items() if k != "owner"}
    note["properties"] = {k: v for k, v in note["properties"].items()
                          if k != "handoff_rep_email"}  # fmt: skip
    with pytest.raises(AdapterError) as caught:
        hubspot.adapt(note, CTX)
    assert caught.value.errors[0]["loc"] == ["body", "properties", "hubspot_owner_id"]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"properties": "x"}, ["body", "properties"]),
        (
            {"properties": {"dealstage": "closedwon", "closedate": "x"}},
            ["body", "properties", "closedate"],
        ),
        ({"objectType": "ticket"}, ["body", "objectType"]),
        ({"associations": {"companies": "9876"}}, ["body", "associations", "companies"]),
    ],
)
def test_bad_objects_name_the_field(change: dict[str, Any], loc: list[Any]) -> None:
    with pytest.raises(AdapterError) as caught:
        hubspot.adapt(load("hubspot_deal_won.json") | change, CTX)
    assert caught.value.errors[0]["loc"] == loc
