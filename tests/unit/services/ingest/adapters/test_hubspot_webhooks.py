"""HubSpot webhook subscription batches (Webhooks API v3), read into sales notes.

The payload is a JSON array of ``{eventId, subscriptionId, portalId, appId, occurredAt,
subscriptionType, attemptNumber, objectId, propertyName, propertyValue, changeSource}``
as https://developers.hubspot.com/docs/api/webhooks documents it (fixture
tests/fixtures/ingest/hubspot_subscription_events.json).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.events import SALES_NOTE, derived_id
from services.ingest.adapters import hubspot
from services.ingest.adapters.base import AdapterError

from .fixtures import CTX, load


def test_a_batch_is_one_note_per_event() -> None:
    deal, created, status = hubspot.adapt(load("hubspot_subscription_events.json"), CTX)

    assert deal.event.data["intent"] == "deal_won"
    assert deal.event.data["opportunity_id"] == "13546372911"
    assert deal.event.data["stage"] == "closedwon"
    assert "rep_email" not in deal.event.data or deal.event.data["rep_email"] is None
    assert deal.key == "company:hubspot-62515-deal-13546372911"
    assert deal.event.time == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # occurredAt, epoch ms

    assert created.event.data["lead_status"] == "mql"  # a new contact is a NEW lead
    assert created.event.data["contact_id"] == "301"
    assert status.event.data["lead_status"] == "sql"  # IN_PROGRESS
    assert status.event.data["stage"] == "IN_PROGRESS"


def test_a_retried_event_is_the_same_event() -> None:
    """HubSpot re-sends with attemptNumber + 1 and the same eventId: one event id."""
    [first] = hubspot.adapt(load("hubspot_subscription_events.json")[:1], CTX)
    again = load("hubspot_subscription_events.json")[:1]
    again[0]["attemptNumber"] = 3
    [second] = hubspot.adapt(again, CTX)
    assert (
        first.event.id
        == second.event.id
        == derived_id(SALES_NOTE, "/sources/hubspot", "event", "62515", "1771203611")
    )


def test_a_lost_deal_is_lost_for_a_reason_not_yet_known() -> None:
    events = load("hubspot_subscription_events.json")[:1]
    events[0]["propertyValue"] = "closedlost"
    [out] = hubspot.adapt(events, CTX)
    assert out.event.data["intent"] == "deal_lost"
    assert out.event.data["loss_reason"] == "other"


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"subscriptionType": "ticket.creation"}, ["body", 0, "subscriptionType"]),
        ({"propertyName": "amount"}, ["body", 0, "propertyName"]),
        ({"portalId": None}, ["body", 0, "portalId"]),
        ({"occurredAt": "yesterday"}, ["body", 0, "occurredAt"]),
    ],
)
def test_what_is_not_handled_names_hubspots_field(change: dict[str, Any], loc: list[Any]) -> None:
    events = load("hubspot_subscription_events.json")[:1]
    events[0] |= change
    with pytest.raises(AdapterError) as caught:
        hubspot.adapt(events, CTX)
    assert caught.value.errors[0]["loc"] == loc
