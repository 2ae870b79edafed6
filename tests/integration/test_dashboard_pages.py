"""The dashboard's pages on both databases (SQLite, PostgreSQL) and the real broker.

What the browser test does in Chromium on SQLite, here on PostgreSQL too: every
page renders for a team token, another team's task is a 404, a form resolves a
task through the lifecycle (its answer acknowledged by Kafka), the live stream
opens.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from schemas.events import TASK_ROUTED, TaskRouted, derived_id, envelope
from services.api.app import create_app
from services.api.auth import create_token
from services.api.db import insert_task_if_absent
from services.api.projection import task_row
from services.api.settings import ApiSettings
from services.kafka_admin import ensure_handoff_topics

NOW = datetime.now(UTC).replace(microsecond=0)


def add_task(engine: sa.Engine, run: str, n: int, team: str) -> str:
    source_event_id = f"zd-{run}-{n}"
    data = TaskRouted(
        task_id=derived_id("task", source_event_id),
        source_event_id=source_event_id,
        source="/sources/support",
        team=team,
        rule=f"component:{team}",
        account=f"{run}.example.co.jp",
        priority="high",  # type: ignore[arg-type]
        component=team,
        subject=f"請求書の画面が分かりにくい #{n}",
        description="支払い方法の変更ボタンが見つかりません",
        requester_email=f"taro@{run}.example.co.jp",
        raised_at=NOW - timedelta(hours=n + 1),
        routed_at=NOW - timedelta(hours=n + 1) + timedelta(seconds=2),
        sla_due=NOW + timedelta(minutes=60 * n - 30),
        department="support",
    )
    event = envelope(
        type_=TASK_ROUTED,
        source="/handoff/router",
        data=data,
        time=data.routed_at,
        event_id=derived_id("task.routed", source_event_id),
    )
    with engine.begin() as conn:
        insert_task_if_absent(conn, task_row(event, projected_at=NOW))
    return data.task_id


@pytest.fixture
def client(kafka_bootstrap: str, database_url: str, engine: sa.Engine) -> Iterator[TestClient]:
    ensure_handoff_topics(kafka_bootstrap, ["billing-ui", "payments"], 4)
    settings = ApiSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        api_projector=False,
        api_delivery=False,
        api_auth="required",
    )
    app = create_app(settings, engine=engine, registry=CollectorRegistry())
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def test_the_pages_on_this_database(client: TestClient, engine: sa.Engine) -> None:
    run = uuid.uuid4().hex[:8]
    mine = [add_task(engine, run, n, "billing-ui") for n in range(3)]
    theirs = add_task(engine, run, 3, "payments")
    token = create_token(engine, team="billing-ui", scope="write", name="t", now=NOW).token
    form = client.get("/dashboard/sign-in")
    client.post("/dashboard/sign-in", data={"token": token, "csrf": csrf_of(form.text)})
    overview = client.get("/dashboard")
    assert overview.status_code == 200
    assert 'data-total="breached">1<' in overview.text  # due 30 minutes ago
    assert 'data-total="at_risk">1<' in overview.text  # due in 30 minutes
    queue = client.get("/dashboard/teams/billing-ui")
    assert re.findall(r'data-task="([^"]+)"', queue.text) == mine  # nearest deadline first
    for path in (f"/dashboard/tasks/{mine[0]}", f"/dashboard/accounts/{run}.example.co.jp",
                 "/dashboard/kpis", "/dashboard/capacity"):  # fmt: skip
        assert client.get(path).status_code == 200, path
    assert client.get(f"/dashboard/tasks/{theirs}").status_code == 404
    answer = client.post(
        f"/dashboard/tasks/{mine[2]}/resolve",
        data={"csrf": csrf_of(queue.text), "message": "直しました"},
        follow_redirects=False,
    )
    assert answer.headers["location"].endswith("?done=resolve")
    assert mine[2] not in client.get("/dashboard/teams/billing-ui").text
    with client.stream("GET", "/dashboard/events") as stream:
        assert next(stream.iter_text()).startswith("retry: 1000\nid: ")
