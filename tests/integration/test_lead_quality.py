"""Lead quality through the API, on SQLite and PostgreSQL (issue 11, acceptance 4).

The seeded leads and outcomes of tests/unit/services/api/lead_quality_data.py are
projected as the router routes them (``task.routed`` with its ``outcome``, through the
projector's own store path); ``GET /v1/stats/lead-quality`` must give the table worked
out by hand there, and a task's detail shows the outcome with the rep's own words.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from schemas.events import TASK_ROUTED, TaskRouted, derived_id, envelope
from schemas.sales import DealOutcome
from services.api import auth
from services.api.app import create_app
from services.api.projection import task_row
from services.api.projector_writes import store_task
from services.api.settings import ApiSettings
from tests.unit.services.api.lead_quality_data import EXPECTED, RECORDS, SINCE, TOTAL, UNTIL

OUTCOME_FIELDS = set(DealOutcome.model_fields)


def routed(record: dict[str, Any]) -> Any:
    """The ``task.routed`` the router publishes for this sales note (team marketing)."""
    at = record["at"]
    outcome = DealOutcome.model_validate({k: v for k, v in record.items() if k in OUTCOME_FIELDS})
    data = TaskRouted(
        task_id=derived_id("task", record["event_id"]), source_event_id=record["event_id"],
        source=record["source"], team="marketing", rule="/0", account=record["account"],
        priority="normal",  # type: ignore[arg-type]
        component=None, subject=f"{record['intent']} {record['event_id']}", description="",
        requester_email="rep@handoff-demo.com", raised_at=at, routed_at=at,
        sla_due=at + timedelta(days=1), origin_event_id=record["event_id"], outcome=outcome,
    )  # fmt: skip
    return envelope(
        type_=TASK_ROUTED, source="handoff/router", data=data, time=at,
        event_id=derived_id(TASK_ROUTED, record["event_id"]), subject=data.task_id,
    )  # fmt: skip


@pytest.fixture
def client(database_url: str, engine: sa.Engine) -> Iterator[TestClient]:
    with engine.begin() as conn:
        for record in RECORDS:
            event = routed(record)
            store_task(conn, event, task_row(event, projected_at=record["at"]))
            store_task(conn, event, task_row(event, projected_at=record["at"]))  # redelivered
    settings = ApiSettings(database_url=database_url, api_projector=False, api_delivery=False)
    app = create_app(settings, engine=engine, registry=CollectorRegistry(), clock=lambda: UNTIL)
    token = auth.create_token(engine, team="marketing", scope="read", name="m", now=SINCE)
    with TestClient(app, headers={"Authorization": f"Bearer {token.token}"}) as test_client:
        yield test_client


@pytest.mark.parametrize("by", ["source", "campaign", "account"])
def test_the_figures_match_the_hand_computed_table(client: TestClient, by: str) -> None:
    window = {"since": SINCE.isoformat(), "until": UNTIL.isoformat(), "by": by}
    response = client.get("/v1/stats/lead-quality", params=window)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["groups"] == EXPECTED[by]
    assert body["total"] == TOTAL


def test_the_window_defaults_to_the_last_90_days_and_must_be_ordered(client: TestClient) -> None:
    body = client.get("/v1/stats/lead-quality").json()
    assert body["until"].startswith(UNTIL.date().isoformat())
    assert body["total"]["leads"] == 7  # L6 started within 90 days of UNTIL too
    bad = client.get("/v1/stats/lead-quality", params={"since": UNTIL.isoformat(),
                                                        "until": SINCE.isoformat()})  # fmt: skip
    assert bad.status_code == 422
    assert "since" in bad.text


def test_a_lost_deals_task_shows_the_outcome_and_the_reps_words(client: TestClient) -> None:
    task = client.get(f"/v1/tasks/{derived_id('task', 'e6')}").json()
    [outcome] = task["outcomes"]
    assert outcome["intent"] == "deal_lost"
    assert outcome["loss_reason"] == "other"
    assert outcome["loss_reason_text"] == "納期が合わない"
    assert (outcome["amount"], outcome["currency"], outcome["stage"]) == (
        1_250_000.0, "JPY", "Closed Lost",
    )  # fmt: skip
