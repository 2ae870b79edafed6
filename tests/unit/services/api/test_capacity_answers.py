"""The router's answers to rush orders, owed to the rep (issue 11, items 2, 3 and 7).

What the projector stores from a routed rush order (its structured fields, its hold), the
callback it owes the rep in the asker's language and in the shape of the rep's CRM, and
``/v1/capacity``. The CRM shapes are checked against the vendors' documentation:

- Salesforce: a record update is ``PATCH /services/data/vXX.X/sobjects/Task/{id}`` with the
  fields to change (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_update_fields.htm);
  Task's Status picklist has "In Progress" and "Completed", Description is its text
  (https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm)
- HubSpot note: ``properties.hs_timestamp`` (required; UTC format) and ``hs_note_body``,
  ``associations[].to.id`` and ``types[]`` with ``associationCategory`` HUBSPOT_DEFINED:
  https://developers.hubspot.com/docs/api-reference/crm-notes-v3/guide;
  note-to-deal association type 214:
  https://developers.hubspot.com/docs/api-reference/crm-associations-v4/guide
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from schemas.events import CloudEvent, TaskRouted, derived_id, envelope
from schemas.orders import HOLD_RELEASED, HoldReleased
from services.api.capacity_answers import order_answer
from services.api.db import Callback, Delivery
from services.api.feedback import resolve_task
from services.api.projection import task_row
from services.api.projector_writes import store_task
from tests.unit.services.api.conftest import T0, FakeClock, FakeFeedbackPublisher

SALESFORCE = "/sources/salesforce"
HUBSPOT = "/sources/hubspot"
EXPIRES = T0 + timedelta(hours=48)
HELD = {
    "hold_id": "h-1",
    "plant": "hamamatsu-2",
    "line": "l2",
    "units": 3000,
    "ready_by": "2026-12-02",
    "expires_at": EXPIRES.isoformat(),
}
PLANNING = {
    "product": "wx-200",
    "quantity": 3000,
    "due_date": "2026-12-02",
    "candidates": [{"plant": "hamamatsu-2", "line": "l2"}],
    "shortfall": [{"date": "2026-12-01", "units": 2900}, {"date": "2026-12-02", "units": 2000}],
    "earliest_feasible": "2026-12-09",
}
REFUSED = {
    "code": "unknown_product",
    "reason": "no line publishes capacity for product wx-900",
    "product": "wx-900",
    "quantity": 10,
    "due_date": "2026-12-02",
}


@pytest.fixture
def make_routed(make_routed: Any) -> Any:
    def make(sid: str = "00T5g00000A1b2C", source: str = SALESFORCE, **o: Any) -> CloudEvent:
        fields = {
            "source": source,
            "team": "production-planning",
            "origin_event_id": sid,
            "origin_ref": sid,
            "subject": "3000 x WX-200 by 12/2",
        }
        return make_routed(sid, **(fields | o))

    return make


def project(engine: sa.Engine, event: CloudEvent, locale: str = "en") -> None:
    row = task_row(event, projected_at=T0)
    with engine.begin() as conn:
        store_task(conn, event, row, locale)


def register(engine: sa.Engine, source: str, fmt: str) -> None:
    url = "http://127.0.0.1:9/crm/{ref}"
    with Session(engine) as session, session.begin():
        session.add(Callback(source=source, url=url, secret="s", format=fmt, created_at=T0))


def deliveries(engine: sa.Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(Delivery).order_by(Delivery.created_at)))


def routed(event: CloudEvent) -> TaskRouted:
    return TaskRouted.model_validate(event.data)


# --- what the rep reads


def test_a_held_answer_in_japanese_and_english(make_routed: Any) -> None:
    event = make_routed(held=HELD, answered_at=T0, answer="feasible")
    assert order_answer(routed(event), "ja") == (
        "納期回答: 2026年12月2日までに 3,000 台を製造できます（hamamatsu-2 l2 ライン）。"
        "2025年3月5日 18:00 JST まで確保しています。"
    )
    assert order_answer(routed(event), "en") == (
        "Feasible: 3,000 units by 2026-12-02 on line l2 at hamamatsu-2; "
        "held until 2025-03-05 09:00 UTC."
    )


def test_an_interim_answer_names_the_earliest_date_and_the_planning_task(make_routed: Any) -> None:
    event = make_routed(planning=PLANNING, resolve_by=T0 + timedelta(days=1))
    task_id = routed(event).task_id
    assert order_answer(routed(event), "en") == (
        f"Not by 2026-12-02; earliest possible 2026-12-09. Planning task {task_id} "
        f"opened with SLA {T0 + timedelta(days=1):%Y-%m-%d %H:%M} UTC."
    )
    ja = order_answer(routed(event), "ja")
    assert ja is not None
    assert ja.startswith("2026年12月2日には間に合いません。最短の可能日は2026年12月9日です。")
    assert f"生産計画タスク {task_id} を起票しました" in ja


def test_a_refusal_says_why_in_the_askers_language(make_routed: Any) -> None:
    event = make_routed(refused=REFUSED, answered_at=T0, answer="not checked")
    assert order_answer(routed(event), "en") == (
        "Cannot be checked: no line publishes capacity for product wx-900"
    )
    assert order_answer(routed(event), "ja") == (
        "能力を確認できません: 製品 wx-900 を製造できるラインの能力が公開されていません"
    )


def test_a_task_that_is_no_rush_order_owes_no_order_answer(make_routed: Any) -> None:
    assert order_answer(routed(make_routed()), "ja") is None


# --- owed through the callback path, in the CRM's shape


def test_a_held_answer_is_owed_to_salesforce_as_a_task(engine: sa.Engine, make_routed: Any) -> None:
    register(engine, SALESFORCE, "salesforce")
    event = make_routed(held=HELD, answered_at=T0, answer="feasible", locale="ja")
    project(engine, event)
    project(engine, event)  # redelivered: owed once
    [owed] = deliveries(engine)
    assert owed.url == "http://127.0.0.1:9/crm/00T5g00000A1b2C"
    assert owed.task_state == "resolved"
    body = json.loads(owed.body)
    assert set(body) == {"Description", "Status"}  # only what handoff changes on the Task
    assert body["Status"] == "Completed"
    assert body["Description"].startswith("納期回答: 2026年12月2日までに 3,000 台")


def test_an_interim_answer_then_the_planners_to_hubspot_as_notes(
    engine: sa.Engine, make_routed: Any, clock: FakeClock, publisher: FakeFeedbackPublisher
) -> None:
    register(engine, HUBSPOT, "hubspot")
    event = make_routed("18491234567", source=HUBSPOT, planning=PLANNING)
    project(engine, event, locale="en")
    [interim] = deliveries(engine)
    note = json.loads(interim.body)
    assert note["properties"]["hs_note_body"].startswith("Not by 2026-12-02; earliest possible")
    assert note["properties"]["hs_timestamp"] == T0.isoformat().replace("+00:00", "Z")
    assert note["associations"] == [
        {
            "to": {"id": "18491234567"},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}],
        }
    ]
    assert interim.task_state == "open"
    resolve_task(
        engine,
        routed(event).task_id,
        "Line l2 runs a Saturday shift: 12/4",
        publisher=publisher,
        clock=clock,
    )
    first, second = deliveries(engine)
    assert first.delivery_id == interim.delivery_id
    assert (
        json.loads(second.body)["properties"]["hs_note_body"]
        == "Line l2 runs a Saturday shift: 12/4"
    )


def test_the_default_locale_applies_when_the_request_names_none(
    engine: sa.Engine, make_routed: Any
) -> None:
    register(engine, SALESFORCE, "salesforce")
    project(engine, make_routed(refused=REFUSED, answered_at=T0, answer="x"), locale="ja")
    [owed] = deliveries(engine)
    assert json.loads(owed.body)["Description"].startswith("能力を確認できません")
    assert owed.task_state == "resolved"


# --- the API shows it


def test_the_task_shows_its_structured_planning_work(
    engine: sa.Engine, make_routed: Any, client: TestClient
) -> None:
    event = make_routed(planning=PLANNING)
    project(engine, event)
    detail = client.get(f"/v1/tasks/{routed(event).task_id}").json()
    assert detail["order"]["kind"] == "planning"
    fields = detail["order"]["fields"]
    assert (fields["quantity"], fields["product"], fields["due_date"]) == (
        3000,
        "wx-200",
        "2026-12-02",
    )
    assert fields["candidates"] == [{"plant": "hamamatsu-2", "line": "l2"}]
    assert fields["shortfall"][1] == {"date": "2026-12-02", "units": 2000}


def released(hold_id: str, reason: str) -> CloudEvent:
    data = HoldReleased(
        hold_id=hold_id, task_id="t", plant="hamamatsu-2", line="l2", units=3000,
        reason=reason, released_at=T0 + timedelta(hours=1),  # type: ignore[arg-type]
    )  # fmt: skip
    return envelope(
        type_=HOLD_RELEASED, source="/handoff/router", data=data, time=T0,
        event_id=derived_id(HOLD_RELEASED, hold_id),
    )  # fmt: skip


def test_holds_per_line_and_their_release(
    engine: sa.Engine, make_routed: Any, client: TestClient
) -> None:
    project(engine, make_routed("006A1", held=HELD, answered_at=T0, answer="ok"))
    other = {**HELD, "hold_id": "h-2", "units": 500}
    project(engine, make_routed("006A2", held=other, answered_at=T0, answer="ok"))
    lines = client.get("/v1/capacity/lines").json()["lines"]
    assert [(x["plant"], x["line"], x["holds"], x["units_held"]) for x in lines] == [
        ("hamamatsu-2", "l2", 2, 3500)
    ]
    from services.api.capacity import store_release

    with engine.begin() as conn:
        assert store_release(conn, released("h-1", "deal_lost")) == "released"
        assert store_release(conn, released("h-1", "deal_lost")) == "duplicate"
    holds = client.get("/v1/capacity/holds", params={"state": "released"}).json()["holds"]
    assert [(h["hold_id"], h["reason"], h["ready_by"]) for h in holds] == [
        ("h-1", "deal_lost", "2026-12-02")
    ]
    lines = client.get("/v1/capacity/lines").json()["lines"]
    assert [x["units_held"] for x in lines] == [500]
    assert client.get("/v1/capacity/holds", params={"plant": "nagoya-1"}).json()["holds"] == []
