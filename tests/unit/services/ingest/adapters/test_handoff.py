"""handoff's own JSON: the three contracts, and the kind told from the fields."""

from __future__ import annotations

import pytest

from schemas import topics
from schemas.events import SALES_NOTE, SUPPORT_TICKET, derived_id
from services.ingest.adapters import handoff
from services.ingest.adapters.base import AdapterError

from .fixtures import CTX

TICKET = {"ticket_id": "T-1", "subject": "画面", "requester_email": "a@example.co.jp"}
NOTE = {
    "note_id": "N-1",
    "intent": "rush_order",
    "subject": "500 units",
    "rep_email": "rep@handoff-demo.com",
    "crm_account_id": "ACME",
    "product_line": "wx-200",
    "quantity": 500,
    "due_date": "2026-03-12",
}
CAPACITY = {
    "plant": "P1",
    "line": "l1",
    "as_of": "2026-03-02T00:00:00Z",
    "free": [{"date": "2026-03-10", "units": 5}],
}


def test_a_ticket_keeps_the_skeletons_event_id() -> None:
    [out] = handoff.any_kind(TICKET, CTX)
    assert out.event.id == derived_id(SUPPORT_TICKET, "/sources/support", "T-1")
    assert (out.topic, out.key) == (topics.INGEST_SUPPORT, "example.co.jp")


def test_a_sales_note_is_keyed_by_the_crm_account() -> None:
    [out] = handoff.any_kind(NOTE, CTX)
    assert out.event.id == derived_id(SALES_NOTE, "/sources/sales", "N-1")
    assert (out.topic, out.key) == (topics.INGEST_SALES, "crm:ACME")


def test_a_note_without_id_gets_an_id_from_its_content() -> None:
    note = {k: v for k, v in NOTE.items() if k != "note_id"}
    [a] = handoff.sales_note(note, CTX)
    [b] = handoff.sales_note(dict(note), CTX)
    [c] = handoff.sales_note(note | {"quantity": 501}, CTX)
    assert a.event.id == b.event.id != c.event.id


def test_capacity() -> None:
    [out] = handoff.any_kind(CAPACITY, CTX)
    assert (out.topic, out.key) == (topics.INGEST_CAPACITY, "capacity:P1/l1")


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        (NOTE | {"intent": "deal_lost"}, ["body"]),
        (TICKET | {"surprise": 1}, ["body", "surprise"]),
        ({"hello": "world"}, ["body"]),
        ([TICKET], ["body"]),
    ],
)
def test_refused_with_the_field(payload: object, loc: list[object]) -> None:
    with pytest.raises(AdapterError) as caught:
        handoff.any_kind(payload, CTX)
    assert caught.value.errors[0]["loc"] == loc
