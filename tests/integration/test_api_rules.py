"""Routing rules through the API, on the real broker and both databases.

An admin publishes a rule set with ``PUT /v1/admin/rules``: it lands on the
compacted ``handoff.rules`` under the deployment's key, and the API's own
feed (the router's ``RulesFeed``) takes it, so ``GET /v1/rules`` shows it.
A rule set that does not load is a 422 naming the line, and nothing is
published. Reassigning checks the team against the rules in force. Every
test uses its own rules key, so no other test (nor a router reading
``current``) sees its rule sets.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from schemas import topics
from schemas.events import TASK_ROUTED, TaskRouted, derived_id, envelope
from services.api import auth
from services.api.app import create_app
from services.api.db import insert_task_if_absent, make_engine, upgrade
from services.api.projection import task_row
from services.api.settings import ApiSettings
from services.kafka_admin import ensure_handoff_topics, ensure_rules_topic
from services.local.kafka import free_port
from services.rules.rules_file import parse_routing_rules, read_routing_rules
from tests.processes import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = REPO_ROOT / "deploy" / "config" / "routing.yaml"
FILE_TEXT = RULES_FILE.read_text(encoding="utf-8")
# The deployment's rules with one more team: what an admin would publish.
WITH_LEGAL = FILE_TEXT.replace(
    "  marketing: {department: marketing}\n",
    "  marketing: {department: marketing}\n  legal: {department: legal}\n",
)
# A route naming a team that the teams section does not have (on the line after `team:`).
BROKEN = WITH_LEGAL.replace("      team: sales-desk\n", "      team: nobody-at-all\n")


def version_of(text: str) -> str:
    return parse_routing_rules(text.encode("utf-8"), name="x", base=REPO_ROOT).version


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def published_under(bootstrap: str, key: str) -> list[dict[str, Any]]:
    """Every record on handoff.rules under ``key``, read from the beginning."""
    partition = TopicPartition(topics.RULES, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while consumer.position(partition) < end:
            assert time.monotonic() < deadline, "handoff.rules not read to its end in 30 s"
            for records in consumer.poll(timeout_ms=500).values():
                found += [json.loads(r.value) for r in records if r.key == key.encode()]
        return found
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def bootstrap(kafka_bootstrap: str) -> str:
    ensure_handoff_topics(kafka_bootstrap, [], 4)
    ensure_rules_topic(kafka_bootstrap)
    return kafka_bootstrap


@pytest.fixture
def key() -> str:
    return f"test-api-rules-{uuid.uuid4().hex}"


@pytest.fixture
def tokens(engine: sa.Engine) -> dict[str, dict[str, str]]:
    now = datetime.now(UTC)

    def header(team: str | None, scope: auth.TokenScope) -> dict[str, str]:
        token = auth.create_token(engine, team=team, scope=scope, name=scope, now=now).token
        return {"Authorization": f"Bearer {token}"}

    return {"admin": header(None, "admin"), "billing": header("billing", "write")}


@pytest.fixture
def api(bootstrap: str, database_url: str, engine: sa.Engine, key: str) -> Iterator[TestClient]:
    settings = ApiSettings(
        kafka_bootstrap=bootstrap,
        database_url=database_url,
        api_auth="required",
        api_projector=False,
        api_delivery=False,
        api_rules_key=key,
        api_rules_file=RULES_FILE,
    )
    app = create_app(settings, engine=engine, registry=CollectorRegistry(), start_rules_feed=True)
    with TestClient(app) as client:
        yield client


def rules_version(api: TestClient, headers: dict[str, str]) -> str | None:
    response = api.get("/v1/rules", headers=headers)
    return str(response.json()["version"]) if response.status_code == 200 else None


def test_an_admin_publishes_rules_and_the_api_follows_them(
    api: TestClient, bootstrap: str, key: str, tokens: dict[str, dict[str, str]]
) -> None:
    reader = tokens["billing"]
    file_version = read_routing_rules(RULES_FILE).version
    assert wait_for("the file's rules", lambda: rules_version(api, reader)) == file_version
    assert api.get("/healthz").json()["checks"]["rules"] == "ok"
    before = api.get("/v1/rules", headers=reader).json()
    assert before["name"] == "routing.yaml"
    assert before["yaml"] == FILE_TEXT
    assert "legal" not in [t["name"] for t in before["teams"]]

    refused = api.put("/v1/admin/rules", json={"yaml": WITH_LEGAL}, headers=reader)
    assert refused.status_code == 403
    response = api.put(
        "/v1/admin/rules",
        json={"yaml": WITH_LEGAL, "name": "routing.yaml"},
        headers=tokens["admin"],
    )
    assert response.status_code == 200, response.text
    new_version = version_of(WITH_LEGAL)
    assert response.json() == {"version": new_version, "name": "routing.yaml", "team_count": 15}

    wait_for("the published rules", lambda: rules_version(api, reader) == new_version)
    after = api.get("/v1/rules", headers=reader).json()
    assert after["yaml"] == WITH_LEGAL
    assert {"name": "legal", "department": "legal", "escalate_to": None} in after["teams"]
    assert {"name": "billing", "department": "engineering", "escalate_to": "eng-oncall"} in after[
        "teams"
    ]
    records = published_under(bootstrap, key)
    assert records == [{"version": new_version, "name": "routing.yaml", "yaml": WITH_LEGAL}]

    again = api.put("/v1/admin/rules", json={"yaml": WITH_LEGAL}, headers=tokens["admin"])
    assert again.status_code == 200
    assert again.json()["version"] == new_version
    assert rules_version(api, reader) == new_version

    decided = api.post(
        "/v1/rules/test",
        json={
            "labels": {"type": "support.ticket", "component": "invoices", "priority": "urgent"},
            "at": "2026-11-20T17:30:00+09:00",
        },
        headers=reader,
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["rules_version"] == new_version
    assert body["teams"] == ["billing"]
    [route] = body["routes"]
    assert route["sla"] == "urgent"
    assert route["route_id"] == "/0/0"
    assert route["group_key"] == 'billing:{component="invoices"}'
    assert "ownership[0]" in route["reason"]
    assert route["acknowledge_by"] == "2026-11-23T00:30:00Z"  # Monday 09:30 in Tokyo


def test_rules_that_do_not_load_are_a_422_naming_the_line_and_nothing_is_published(
    api: TestClient, bootstrap: str, key: str, tokens: dict[str, dict[str, str]]
) -> None:
    response = api.put("/v1/admin/rules", json={"yaml": BROKEN}, headers=tokens["admin"])
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "body.yaml"
    assert error["reason"].startswith(f"routing.yaml:{line_of(BROKEN, 'nobody-at-all')}: ")
    assert "nobody-at-all" in error["reason"]
    syntax = api.put("/v1/admin/rules", json={"yaml": "teams: [a\n"}, headers=tokens["admin"])
    assert syntax.status_code == 422
    assert "routing.yaml:2:1: invalid YAML" in syntax.json()["detail"]
    assert published_under(bootstrap, key) == []


def add_task(engine: sa.Engine, team: str) -> str:
    source_event_id = f"zd-rules-{uuid.uuid4().hex[:10]}"
    raised_at = datetime.now(UTC) - timedelta(minutes=5)
    data = TaskRouted(
        task_id=derived_id("task", source_event_id),
        source_event_id=source_event_id,
        source="/zendesk/acme",
        team=team,
        rule="route /0",
        account="example.co.jp",
        priority="high",  # type: ignore[arg-type]
        component="invoices",
        subject="請求書の画面が分かりにくい",
        description="",
        requester_email="taro@example.co.jp",
        raised_at=raised_at,
        routed_at=raised_at + timedelta(seconds=1),
        sla_due=raised_at + timedelta(hours=4),
    )
    event = envelope(
        type_=TASK_ROUTED,
        source="/handoff/router",
        data=data,
        time=data.routed_at,
        event_id=derived_id("task.routed", source_event_id),
    )
    with engine.begin() as conn:
        insert_task_if_absent(conn, task_row(event, projected_at=datetime.now(UTC)))
    return data.task_id


def test_reassigning_checks_the_team_against_the_rules_in_force(
    api: TestClient, engine: sa.Engine, tokens: dict[str, dict[str, str]]
) -> None:
    task_id = add_task(engine, "billing")
    writer = tokens["billing"]
    wait_for("the file's rules", lambda: rules_version(api, writer))

    unknown = api.post(
        f"/v1/tasks/{task_id}/reassign",
        json={"team": "legal", "message": "a contract question"},
        headers=writer,
    )
    assert unknown.status_code == 422, unknown.text
    error = unknown.json()["errors"][0]
    assert error["field"] == "body.team"
    assert "'legal' is not a team of the routing rules" in error["reason"]
    assert "billing, eng-oncall, identity" in error["reason"]
    assert api.get(f"/v1/tasks/{task_id}", headers=writer).json()["state"] == "open"

    published = api.put("/v1/admin/rules", json={"yaml": WITH_LEGAL}, headers=tokens["admin"])
    assert published.status_code == 200, published.text
    new_version = published.json()["version"]
    wait_for("the published rules", lambda: rules_version(api, writer) == new_version)

    moved = api.post(
        f"/v1/tasks/{task_id}/reassign",
        json={"team": "legal", "message": "a contract question"},
        headers=writer,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["team"] == "legal"
    assert moved.json()["state"] == "reassigned"


@pytest.mark.usefixtures("collect_kafka_python_leaks")
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
def test_an_unreachable_broker_is_a_503_and_nothing_is_published(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    engine = make_engine(url)
    settings = ApiSettings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        database_url=url,
        api_auth="off",
        api_projector=False,
        api_delivery=False,
        api_feedback_ack_timeout_s=1.0,
    )
    try:
        with TestClient(create_app(settings, engine=engine)) as client:
            response = client.put("/v1/admin/rules", json={"yaml": WITH_LEGAL})
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "5"
            assert "could not be published" in response.json()["detail"]
            unknown = client.get("/v1/rules")  # the feed is off: no rules known
            assert unknown.status_code == 503
            assert client.get("/healthz").json()["checks"]["rules"] == "disabled"
    finally:
        engine.dispose()
