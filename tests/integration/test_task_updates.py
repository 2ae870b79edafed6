"""Issue 16.1, 16.2, 16.5 on the real platform (ingest, router, API; Kafka and PostgreSQL).

Zendesk webhooks are shaped like the ticket a trigger sends: the Tickets API's ticket object
(https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/ : ``priority`` one of
urgent, high, normal, low; ``organization``; ``created_at`` / ``updated_at``), signed as
https://developer.zendesk.com/documentation/webhooks/verifying/ describes
(``X-Zendesk-Webhook-Signature``: base64 HMAC-SHA256 of timestamp + body), with the
``event`` of a ticket event (``zen:event-type:ticket.priority_changed``, ``previous``,
``current``: https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/).

The rules are the shipped ``deploy/config/routing.yaml`` plus one drill route whose SLA is
three seconds, so that a real breach escalates within the test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from schemas import topics
from schemas.events import CloudEvent, derived_id
from services.core.routing import RoutingRules, load_routing_rules
from services.ingest.signatures import sign_zendesk
from tests.databases import fresh_postgres_database
from tests.processes import (
    REPO_ROOT,
    Platform,
    platform_env,
    read_topic,
    running_platform,
    wait_for,
)

SECRET = "task-updates-zendesk-secret"
SHIPPED = REPO_ROOT / "deploy" / "config" / "routing.yaml"
ORGS = [
    {"id": 509974, "name": "株式会社サンプル", "external_id": "ACME-JP-001"},
    {"id": 509975, "name": "グローバル商事株式会社", "external_id": "GLOBEX-JP-002"},
    {"id": 509976, "name": "有限会社イニテック", "external_id": "INITECH-JP-003"},
]


def drill_rules() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    doc["teams"]["drill"] = {"department": "engineering", "escalate_to": "eng-oncall"}
    doc["sla_policies"]["drill"] = {"acknowledge": "3s"}
    drill = {"matchers": ['component="escalation-drill"'], "team": "drill", "sla": "drill"}
    doc["route"]["routes"].insert(0, drill)
    return doc


RULES: RoutingRules = load_routing_rules(drill_rules(), version="test")


@pytest.fixture(scope="module")
def platform(
    kafka_bootstrap: str, postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("task-updates")
    rules = home / "routing.yaml"
    rules.write_text(yaml.safe_dump(drill_rules(), allow_unicode=True), encoding="utf-8")
    database = fresh_postgres_database(postgres_server_url)
    env = platform_env(kafka_bootstrap, next(database), home)
    env["HANDOFF_INGEST_SECRET_ZENDESK"] = SECRET
    env["HANDOFF_ROUTER_RULES_FILE"] = str(rules)
    try:
        with running_platform(env, home) as running:
            yield running
    finally:
        next(database, None)  # the generator drops the database


def zendesk_ticket(
    ticket_id: str, priority: str, org: dict[str, Any], created: datetime, **extra: Any
) -> dict[str, Any]:
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    ticket = {
        "id": int(ticket_id),
        "subject": "請求書の画面が分かりにくい",
        "description": "<p>支払い方法の変更ボタンが見つかりません。</p>",
        "priority": priority,
        "status": "open",
        "requester": {"name": "山田 太郎", "email": f"t{ticket_id}@{org['external_id']}.example"},
        "organization": org,
        "tags": ["billing", "請求"],
        "created_at": stamp,
        "updated_at": stamp,
        **extra,
    }
    return {"ticket": ticket}


def post(platform: Platform, webhook: dict[str, Any]) -> str:
    """POST a signed webhook; the support.ticket event id it gives."""
    body = json.dumps(webhook, ensure_ascii=False).encode("utf-8")
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": sign_zendesk(SECRET.encode(), stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }
    url = f"{platform.ingest.url}/v1/sources/zendesk/webhooks"
    response = httpx.post(url, content=body, headers=headers, timeout=30)
    assert response.status_code == 202, response.text
    return derived_id("support.ticket", "/sources/zendesk", str(webhook["ticket"]["id"]))


def new_ticket_id() -> str:
    return str(10**8 + uuid.uuid4().int % 10**8)


def api_task(platform: Platform, task_id: str) -> dict[str, Any] | None:
    response = httpx.get(f"{platform.api.url}/v1/tasks/{task_id}", timeout=30)
    return response.json() if response.status_code == 200 else None


def team_topic(platform: Platform, team: str, task_id: str, until: int) -> list[CloudEvent]:
    """The task's task.routed events on the team's topic, once there are ``until`` of them."""
    bootstrap = platform.env["HANDOFF_KAFKA_BOOTSTRAP"]

    def mine(records: list[Any]) -> list[CloudEvent]:
        events = [CloudEvent.from_bytes(r.value) for r in records]
        return [e for e in events if e.data.get("task_id") == task_id]

    return mine(read_topic(bootstrap, topics.team_topic(team), lambda rs: len(mine(rs)) >= until))


def holders(platform: Platform, ids: set[str]) -> list[str] | None:
    """The billing tasks holding any of ``ids``, once every one of them is held (else None);
    other modules' billing tasks on the session's broker are projected too: ours only."""
    url = f"{platform.api.url}/v1/teams/billing/tasks?state=all&limit=500"
    held: dict[str, set[str]] = {}
    for listed in httpx.get(url, timeout=30).json()["tasks"]:
        if mine := _requests(platform, listed["task_id"]) & ids:
            held[listed["task_id"]] = mine
    return sorted(held) if set().union(*held.values(), set()) >= ids else None


def _requests(platform: Platform, task_id: str) -> set[str]:
    detail = api_task(platform, task_id) or {"source_events": []}
    return {e["source_event_id"] for e in detail["source_events"]}


def ack_due(priority: str, component: str | None, start: datetime) -> datetime:
    labels = {"type": "support.ticket", "priority": priority, "component": component or ""}
    decision = RULES.decide(labels, start)[0]
    assert decision.clocks is not None
    assert decision.clocks.acknowledge is not None
    return decision.clocks.acknowledge.due


def at(value: object) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def test_five_tickets_from_three_companies_are_one_billing_task(platform: Platform) -> None:
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    priorities = ["high", "normal", "urgent", "low", "normal"]
    ids = []
    for n, priority in enumerate(priorities):
        webhook = zendesk_ticket(
            new_ticket_id(), priority, ORGS[n % 3], created + timedelta(seconds=n)
        )
        webhook["ticket"]["component"] = "invoices"
        ids.append(post(platform, webhook))
    # The three companies' tickets reach the router on different partitions: whichever is
    # grouped first opens the task (its id derives from that request), not necessarily ids[0].
    holding = wait_for("all five tickets on billing tasks", lambda: holders(platform, set(ids)))
    assert len(holding) == 1, holding  # one task per problem
    [task_id] = holding
    assert task_id in {derived_id("task", event_id) for event_id in ids}

    def grouped() -> dict[str, Any] | None:
        task = api_task(platform, task_id)
        return task if task and task["priority"] == "urgent" else None

    task = wait_for("the billing task following its most urgent ticket", grouped)
    assert {e["source_event_id"] for e in task["source_events"]} == set(ids)
    assert task["team"] == "billing"
    expected = ack_due("urgent", "invoices", created + timedelta(seconds=2))
    assert at(task["acknowledge_by"]) == at(task["sla_due"]) == expected
    events = team_topic(platform, "billing", task_id, until=5)
    assert {e.data["task_id"] for e in events} == {task_id}
    newest = max(events, key=lambda e: (e.data["event_count"], e.time))
    assert at(newest.data["acknowledge_by"]) == expected  # the tracker's view = the API's
    assert "5 requests" in str(task["summary"])
    assert "3 accounts" in str(task["summary"])


def test_a_priority_change_updates_the_task_and_every_reader_agrees(platform: Platform) -> None:
    ticket_id, org = new_ticket_id(), ORGS[1]
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=20)
    first = zendesk_ticket(ticket_id, "high", org, created, component="payments")
    task_id = derived_id("task", post(platform, first))
    wait_for("the high task", lambda: api_task(platform, task_id))

    # Zendesk's trigger on the change: the ticket as it is now (no component in this
    # payload) and the event; the retried delivery of the same webhook changes nothing.
    changed = zendesk_ticket(ticket_id, "urgent", org, created)
    changed["ticket"]["updated_at"] = (created + timedelta(seconds=10)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    changed["event"] = {
        "type": "zen:event-type:ticket.priority_changed",
        "previous": "high",
        "current": "urgent",
    }
    post(platform, changed)
    post(platform, changed)

    def updated() -> dict[str, Any] | None:
        task = api_task(platform, task_id)
        return task if task and task["priority"] == "urgent" else None

    task = wait_for("the task's update in the API", updated)
    expected = ack_due("urgent", "payments", created)
    assert expected < ack_due("high", "payments", created)
    assert at(task["acknowledge_by"]) == at(task["sla_due"]) == expected
    assert (task["team"], task["event_count"]) == ("billing", 1)
    entries = [e for e in task["timeline"] if e["type"] == "task.updated"]
    assert len(entries) == 1
    assert "priority high -> urgent" in entries[0]["message"]

    on_team = team_topic(platform, "billing", task_id, until=2)
    assert len(on_team) == 2  # the task, then its one update: no second task
    update = on_team[-1].data
    assert (update["task_id"], update["priority"]) == (task_id, "urgent")
    assert update["update"]["cause"] == "priority_changed"
    assert at(update["acknowledge_by"]) == expected
    assert team_topic_others(platform, task_id) == []


def team_topic_others(platform: Platform, task_id: str) -> list[str]:
    """support-l2's topic (where the change alone would have gone): the task is not on it."""
    consumer = KafkaConsumer(bootstrap_servers=platform.env["HANDOFF_KAFKA_BOOTSTRAP"])
    try:
        topic = topics.team_topic("support-l2")
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends, found = consumer.end_offsets(parts), []
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for records in consumer.poll(timeout_ms=500).values():
                found += [CloudEvent.from_bytes(r.value).data.get("task_id") for r in records]
        return [str(t) for t in found if t == task_id]
    finally:
        consumer.close()


def test_an_escalated_task_appears_in_the_escalation_teams_queue(platform: Platform) -> None:
    created = datetime.now(UTC).replace(microsecond=0)
    webhook = zendesk_ticket(new_ticket_id(), "high", ORGS[2], created)
    webhook["ticket"]["component"] = "escalation-drill"
    task_id = derived_id("task", post(platform, webhook))

    def in_oncall_queue() -> list[dict[str, Any]]:
        url = f"{platform.api.url}/v1/teams/eng-oncall/tasks?limit=500"
        tasks = httpx.get(url, timeout=30).json()["tasks"]
        return [t for t in tasks if t["task_id"] == task_id]

    (task,) = wait_for("the escalated task in eng-oncall's queue", in_oncall_queue, timeout=60)
    assert task["team"] == "eng-oncall"
    detail = api_task(platform, task_id)
    assert detail is not None
    assert [e["team"] for e in detail["timeline"] if e["type"] == "task.escalated"] == [
        "eng-oncall"
    ]
    (escalated,) = team_topic(platform, "eng-oncall", task_id, until=1)
    assert escalated.data["escalated_from"] == "drill"
