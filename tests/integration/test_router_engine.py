"""The routing engine on the real broker: grouping, capacity, SLA clocks and hot reload.

Every worker here has its own app id (consumer group, tables) and its own
rules key on ``handoff.rules``; assertions filter by this test's unique ids
(other tests' events on the shared topics are routed too, and ignored).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from schemas import topics
from schemas.events import CloudEvent, SlaSignal, TaskFeedback, TaskRouted, derived_id
from services.rules.rules_file import read_routing_rules
from tests.integration.router_process import (
    Producer,
    RouterWorker,
    capacity_event,
    lifecycle_event,
    metric,
    records_for,
    routed_ids,
    router_env,
    running_router,
    sales_event,
    ticket_event,
    unique,
    write_rules,
)
from tests.processes import handoff_cli, read_topic, wait_for


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RouterWorker]:
    home = tmp_path_factory.mktemp("engine")
    with running_router(router_env(kafka_bootstrap, home), home) as running:
        yield running


def tasks(records: list[Any]) -> list[TaskRouted]:
    return [TaskRouted.model_validate(CloudEvent.from_bytes(r.value).data) for r in records]


def test_a_burst_about_one_component_from_three_accounts_is_one_task(
    worker: RouterWorker, producer: Producer, kafka_bootstrap: str
) -> None:
    component = unique("c")[-16:]  # nobody owns it: the fallback team, grouped by component
    senders = ["a@acme.example", "b@acme.example", "c@globex.example", "d@initech.example"]
    ids = [unique("burst") for _ in senders]
    for event_id, email in zip(ids, senders, strict=True):
        value = ticket_event(event_id, requester_email=email, component=component)
        producer.send(email.split("@")[1].encode(), value)

    def all_seen(records: list[Any]) -> bool:
        return set(ids) <= set(routed_ids(records))

    records = read_topic(kafka_bootstrap, topics.team_topic("support-triage"), all_seen)
    ours = [t for t in tasks(records) if t.group_key and f'component="{component}"' in t.group_key]
    assert len({t.task_id for t in ours}) == 1  # one task, updated as events join it
    assert sorted(t.event_count for t in ours) == [1, 2, 3, 4]
    last = max(ours, key=lambda t: t.event_count)
    assert sorted(last.event_ids) == sorted(ids)
    assert sorted(last.accounts) == ["acme.example", "globex.example", "initech.example"]
    assert sorted(last.requesters) == sorted(senders)
    assert last.summary == "4 requests from 4 requesters, 3 accounts"


def test_a_rush_order_within_capacity_is_answered_at_once_and_holds_the_units(
    worker: RouterWorker, producer: Producer, kafka_bootstrap: str
) -> None:
    line = unique("line")[-20:]
    today = datetime.now(UTC).date()
    day = [(today + timedelta(days=n)).isoformat() for n in (1, 3)]
    before = metric(worker, "handoff_router_capacity_updates_total")
    producer.send(line.encode(), capacity_event(unique("cap"), line, {day[0]: 300, day[1]: 300}),
                  topic=topics.INGEST_CAPACITY)  # fmt: skip
    wait_for(
        "the capacity update applied",
        lambda: metric(worker, "handoff_router_capacity_updates_total") >= before + 1,
    )

    first, second = unique("rush"), unique("rush")
    sent = producer.send(b"crm:ACME-1", sales_event(first, product_line=line, quantity=500),
                         topic=topics.INGEST_SALES)  # fmt: skip
    task_id = derived_id("task", first)

    def answered(records: list[Any]) -> bool:
        return any(r.key and json.loads(r.value)["data"].get("task_id") == task_id for r in records)

    feedback = read_topic(kafka_bootstrap, topics.FEEDBACK, answered)
    (record,) = [r for r in feedback if json.loads(r.value)["data"].get("task_id") == task_id]
    answer = TaskFeedback.model_validate(CloudEvent.from_bytes(record.value).data)
    assert answer.message.startswith(f"feasible: 500 units on line kyoto/{line} by {day[1]}")
    assert (answer.status, answer.team, answer.source_event_id) == (
        "resolved", "production-planning", first)  # fmt: skip
    latency_ms = record.timestamp - sent.timestamp
    assert latency_ms < 1000, f"answered in {latency_ms} ms"
    # the API gets the task too, answered already
    routed = read_topic(kafka_bootstrap, topics.ROUTED, lambda rs: first in routed_ids(rs))
    (task,) = tasks(records_for(routed, first))
    assert (task.task_id, task.answer) == (task_id, answer.message)
    assert task.answered_at == answer.answered_at

    # 100 units are left: a second order for 200 is not promised the held units
    producer.send(b"crm:ACME-2", sales_event(second, product_line=line, quantity=200,
                  crm_account_id="ACME-2"), topic=topics.INGEST_SALES)  # fmt: skip
    planning = read_topic(
        kafka_bootstrap,
        topics.team_topic("production-planning"),
        lambda rs: second in routed_ids(rs),
    )
    (task,) = tasks(records_for(planning, second))
    assert (task.task_id, task.team, task.earliest_feasible) == (
        derived_id("task", second), "production-planning", None)  # fmt: skip
    feedback = read_topic(kafka_bootstrap, topics.FEEDBACK, answered)
    second_id = derived_id("task", second)
    assert not [r for r in feedback if json.loads(r.value)["data"].get("task_id") == second_id]


SLA_RULES = """
teams:
  sla-fast: {department: support, escalate_to: sla-lead}
  sla-lead: {department: support}
sla_policies:
  blink: {acknowledge: 6s, resolve: 60s, warn_at: 0.5}
route:
  team: sla-fast
  sla: blink
  group_by: [id]
"""


def test_an_unacknowledged_task_breaches_and_escalates_an_acknowledged_one_does_not(
    kafka_bootstrap: str, tmp_path: Path, producer: Producer
) -> None:
    rules = write_rules(tmp_path, SLA_RULES)
    late, acked = unique("late"), unique("acked")
    late_task, acked_task = derived_id("task", late), derived_id("task", acked)
    env = router_env(kafka_bootstrap, tmp_path, rules=rules)
    env["HANDOFF_ROUTER_OFFSET_RESET"] = "latest"  # this test's events only, not the backlog
    with running_router(env, tmp_path):
        producer.send(b"acme.example", ticket_event(late, requester_email="x@acme.example"))
        producer.send(b"acme.example", ticket_event(acked, requester_email="x@acme.example"))
        read_topic(kafka_bootstrap, topics.ROUTED, lambda rs: acked in routed_ids(rs))
        producer.send(b"acme.example", lifecycle_event(acked_task, "task.acknowledged"),
                      topic=topics.FEEDBACK)  # fmt: skip

        def signals(records: list[Any], task_id: str) -> list[tuple[str, str]]:
            found: list[tuple[str, str]] = []
            for r in records:
                event = CloudEvent.from_bytes(r.value)
                signal = SlaSignal.model_validate(event.data)
                if signal.task_id == task_id:
                    found.append((event.type, signal.clock))
            return found

        breached = ("sla.breached", "acknowledge")
        records = read_topic(
            kafka_bootstrap, topics.SLA, lambda rs: breached in signals(rs, late_task)
        )
        assert signals(records, late_task)[:2] == [("sla.at_risk", "acknowledge"), breached]
        (breach,) = [
            CloudEvent.from_bytes(r.value)
            for r in records
            if CloudEvent.from_bytes(r.value).id
            == derived_id("sla.breached", late_task, "sla.breached:acknowledge")
        ]
        assert SlaSignal.model_validate(breach.data).escalate_to == "sla-lead"
        escalated = read_topic(
            kafka_bootstrap, topics.team_topic("sla-lead"), lambda rs: late in routed_ids(rs)
        )
        (task,) = tasks(records_for(escalated, late))
        assert (task.task_id, task.team, task.escalated_from) == (late_task, "sla-lead", "sla-fast")
        # both were raised together: past the acknowledged task's deadline, nothing breached
        time.sleep(1.5)
        total = end_offsets(kafka_bootstrap, topics.SLA)
        later = read_topic(kafka_bootstrap, topics.SLA, lambda rs: len(rs) >= total)
        assert signals(later, acked_task) in ([], [("sla.at_risk", "acknowledge")])


RULES_A = """
teams: {reload-a: {}, reload-b: {}}
route: {team: reload-a, group_by: [id]}
"""
RULES_B = RULES_A.replace("route: {team: reload-a", "route: {team: reload-b")


def publish(env: dict[str, str], path: Path) -> subprocess.CompletedProcess[str]:
    return handoff_cli(env, "rules", "publish", str(path), timeout=60)


def end_offsets(bootstrap: str, topic: str) -> int:
    """How many records ``topic`` holds, all partitions together (from offset 0)."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic) or []]
        return sum(int(offset) for offset in reader.end_offsets(partitions).values())
    finally:
        reader.close()


def test_publishing_a_rule_set_changes_routing_without_a_restart(
    kafka_bootstrap: str, tmp_path: Path, producer: Producer
) -> None:
    path_a, path_b = (
        write_rules(tmp_path, RULES_A, "a.yaml"),
        write_rules(tmp_path, RULES_B, "b.yaml"),
    )
    version_b = read_routing_rules(path_b).version
    env = router_env(kafka_bootstrap, tmp_path, rules=path_a)
    env["HANDOFF_ROUTER_OFFSET_RESET"] = "latest"  # this test's events only, not the backlog
    with running_router(env, tmp_path) as worker:
        before = unique("before")
        producer.send(b"acme.example", ticket_event(before))
        records = read_topic(
            kafka_bootstrap, topics.team_topic("reload-a"), lambda rs: before in routed_ids(rs)
        )
        (task,) = tasks(records_for(records, before))
        assert (task.team, task.rules_version) == ("reload-a", read_routing_rules(path_a).version)

        bad = write_rules(tmp_path, RULES_A.replace("team: reload-a", "team: nobody"), "bad.yaml")
        offset = end_offsets(kafka_bootstrap, topics.RULES)
        refused = publish(env, bad)
        assert refused.returncode == 1
        assert "bad.yaml:" in refused.stderr
        assert "nobody" in refused.stderr
        assert end_offsets(kafka_bootstrap, topics.RULES) == offset  # never reached a worker

        published = publish(env, path_b)
        assert published.returncode == 0, published.stderr
        assert version_b in published.stdout

        def version() -> str:
            body: dict[str, str] = httpx.get(worker.url + "/healthz", timeout=5).json()
            return body["rules_version"]

        wait_for("the worker on the new rules", lambda: version() == version_b, timeout=30)
        after = unique("after")
        producer.send(b"acme.example", ticket_event(after))
        records = read_topic(
            kafka_bootstrap, topics.team_topic("reload-b"), lambda rs: after in routed_ids(rs)
        )
        (task,) = tasks(records_for(records, after))
        assert (task.team, task.rules_version) == ("reload-b", version_b)

        # other tests' workers route the same events: this worker's are the reload-* ones
        def ours(records: list[Any]) -> list[TaskRouted]:
            return [t for t in tasks(records_for(records, after)) if t.team.startswith("reload-")]

        routed = read_topic(kafka_bootstrap, topics.ROUTED, lambda rs: bool(ours(rs)))
        time.sleep(0.5)  # a second (wrong) copy would have been sent with the first
        routed = read_topic(kafka_bootstrap, topics.ROUTED, lambda rs: bool(ours(rs)))
        assert [t.team for t in ours(routed)] == ["reload-b"]
        assert worker.proc.poll() is None  # the same process: no restart
