"""A real router worker (Faust, as a process) against the real broker.

Other tests share the broker and the topics (and this worker's consumer group
starts from the earliest offset, so it also routes what they produced): every
assertion filters by this test's own unique event ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer

from schemas import topics
from schemas.dlq import DeadLetter
from schemas.events import CloudEvent, TaskRouted, derived_id
from services.router.inbound import decode_incoming
from services.rules.rules_file import read_routing_rules
from tests.integration.router_process import (
    Producer,
    RouterWorker,
    metric,
    records_for,
    routed_ids,
    router_env,
    running_router,
    ticket_event,
    unique,
    warm_up,
)
from tests.processes import REPO_ROOT, read_topic, wait_for

RULES = read_routing_rules(REPO_ROOT / "deploy" / "config" / "routing.yaml")


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RouterWorker]:
    home = tmp_path_factory.mktemp("router")
    # only this module's events: the shared topics hold every other test's backlog
    with running_router(router_env(kafka_bootstrap, home, only_new=True), home) as running:
        producer = Producer(kafka_bootstrap)
        try:
            warm_up(kafka_bootstrap, producer)
        finally:
            producer.close()
        yield running


def test_tickets_are_routed_to_routed_and_their_team_topic(
    worker: RouterWorker, producer: Producer, kafka_bootstrap: str
) -> None:
    billing_id, default_id = unique("billing"), unique("default")
    billing_value = ticket_event(billing_id)
    producer.send(b"example.co.jp", billing_value)
    producer.send(
        b"hanako@gmail.com",
        ticket_event(
            default_id, requester_email="hanako@gmail.com", component=None, priority="low"
        ),
    )

    routed = read_topic(
        kafka_bootstrap, topics.ROUTED, lambda rs: {billing_id, default_id} <= set(routed_ids(rs))
    )
    (billing,) = records_for(routed, billing_id)
    assert billing.key == b"example.co.jp"
    event = CloudEvent.from_bytes(billing.value)
    task = TaskRouted.model_validate(event.data)
    # Other tests' billing-ui tickets may have opened the group's task: then ours joined it.
    if task.event_count == 1:
        assert event.id == derived_id("task.routed", billing_id)
        assert task.task_id == derived_id("task", billing_id)
    assert billing_id in task.event_ids
    incoming = decode_incoming(billing_value, "support.ticket")
    (expected,) = RULES.decide(incoming.labels, task.raised_at)
    assert (task.team, task.route_id, task.account) == (
        "billing",
        expected.route_id,
        "example.co.jp",
    )
    assert task.rules_version == RULES.version == worker_version(worker)
    assert expected.clocks is not None
    assert expected.clocks.acknowledge is not None
    if task.event_count == 1:
        assert task.sla_due == task.acknowledge_by == expected.clocks.acknowledge.due
    else:  # a group follows its most urgent ticket: ours, or one due sooner
        (ours,) = RULES.decide(incoming.labels, incoming.event.time)
        assert ours.clocks is not None
        assert ours.clocks.acknowledge is not None
        assert task.sla_due is not None
        assert task.sla_due == task.acknowledge_by
        assert task.sla_due <= ours.clocks.acknowledge.due
    assert task.subject == "請求書の画面が分かりにくい"
    assert task.raised_at <= task.routed_at

    (default,) = records_for(routed, default_id)
    assert default.key == b"hanako@gmail.com"
    default_task = TaskRouted.model_validate(CloudEvent.from_bytes(default.value).data)
    assert (default_task.team, default_task.route_id) == ("support-triage", "/")
    assert default_task.sla_policy == "standard"

    team = read_topic(
        kafka_bootstrap, topics.team_topic("billing"), lambda rs: billing_id in routed_ids(rs)
    )
    (on_team,) = records_for(team, billing_id)
    assert (on_team.key, on_team.value) == (billing.key, billing.value)
    triage = read_topic(
        kafka_bootstrap,
        topics.team_topic("support-triage"),
        lambda rs: default_id in routed_ids(rs),
    )
    assert records_for(triage, default_id)[0].key == b"hanako@gmail.com"


def worker_version(worker: RouterWorker) -> str:
    version: str = httpx.get(worker.url + "/healthz", timeout=5).json()["rules_version"]
    return version


def test_a_duplicate_event_id_is_routed_once(
    worker: RouterWorker, producer: Producer, kafka_bootstrap: str
) -> None:
    twice, marker = unique("twice"), unique("marker")
    before = metric(worker, "handoff_router_events_total", outcome="duplicate")
    producer.send(b"sakura-shoji.jp", ticket_event(twice, requester_email="yuki@sakura-shoji.jp"))
    producer.send(b"sakura-shoji.jp", ticket_event(twice, requester_email="yuki@sakura-shoji.jp"))
    # Same key, same partition: once the marker is routed, both copies were handled.
    producer.send(b"sakura-shoji.jp", ticket_event(marker, requester_email="yuki@sakura-shoji.jp"))

    routed = read_topic(kafka_bootstrap, topics.ROUTED, lambda rs: marker in routed_ids(rs))
    assert len(records_for(routed, twice)) == 1
    team = read_topic(
        kafka_bootstrap, topics.team_topic("billing"), lambda rs: marker in routed_ids(rs)
    )
    assert len(records_for(team, twice)) == 1
    assert metric(worker, "handoff_router_events_total", outcome="duplicate") >= before + 1


@pytest.mark.parametrize(
    ("make_value", "error_type", "says"),
    [
        (lambda tag: b"\xff\xfe not json " + tag.encode(), "InvalidJson", "not JSON"),
        (lambda tag: json.dumps({"tag": tag}).encode(), "InvalidCloudEvent", "not a CloudEvent"),
        (
            lambda tag: ticket_event(tag, requester_email="not-an-address"),
            "InvalidSupportTicket",
            "requester_email",
        ),
    ],
    ids=["binary", "json-not-cloudevent", "invalid-ticket"],
)
def test_garbage_lands_on_the_dead_letter_topic_with_the_reason(
    worker: RouterWorker,
    producer: Producer,
    kafka_bootstrap: str,
    make_value: Any,
    error_type: str,
    says: str,
) -> None:
    value = make_value(unique("poison"))
    sent = producer.send(b"acme.com", value)

    def ours(records: list[Any]) -> list[DeadLetter]:
        letters = [DeadLetter.from_bytes(r.value) for r in records if b"value_b64" in r.value]
        return [d for d in letters if d.original_value() == value]

    parked = read_topic(kafka_bootstrap, topics.DLQ, lambda rs: bool(ours(rs)))
    (letter,) = ours(parked)
    assert letter.error_type == error_type
    assert says in letter.reason
    assert (letter.topic, letter.partition, letter.offset) == (
        topics.INGEST_SUPPORT,
        sent.partition,
        sent.offset,
    )
    assert (letter.key, letter.service) == ("acme.com", "router")
    (record,) = [r for r in parked if b"value_b64" in r.value and ours([r])]
    assert record.key == b"acme.com"


def test_metrics_count_what_the_worker_did(worker: RouterWorker, producer: Producer) -> None:
    def counts() -> dict[str, float]:
        return {
            "routed": metric(worker, "handoff_router_events_total", outcome="routed"),
            "dead": metric(worker, "handoff_router_events_total", outcome="dead_lettered"),
            "triage": metric(worker, "handoff_router_routed_total", team="support-triage"),
            "latency": metric(worker, "handoff_router_route_latency_seconds_count"),
            "processed": metric(worker, "handoff_router_processing_seconds_count"),
        }

    before = counts()
    marker = unique("metrics")
    producer.send(b"globex.example", b"garbage " + marker.encode())
    producer.send(
        b"globex.example",
        # a component nobody owns, new to every group: a new task for the fallback team
        ticket_event(marker, requester_email="bob@globex.example", component=marker[-20:]),
    )

    def routed_marker() -> bool:
        return counts()["triage"] >= before["triage"] + 1

    wait_for("the marker ticket counted as routed to support-triage", routed_marker)
    after = counts()
    assert after["routed"] >= before["routed"] + 1
    assert after["dead"] >= before["dead"] + 1
    assert after["latency"] >= before["latency"] + 1
    assert after["processed"] >= before["processed"] + 2

    text = httpx.get(worker.url + "/metrics", timeout=5)
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    assert re.search(r'^handoff_router_routed_total\{team="billing"\} ', text.text, re.M)


def test_healthz_and_readyz_report_the_worker(worker: RouterWorker, kafka_bootstrap: str) -> None:
    health = httpx.get(worker.url + "/healthz", timeout=5)
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["service"] == "router"
    assert re.fullmatch(r"[0-9a-f]{12}", body["rules_version"])
    # the only member of its consumer group: it owns every partition of the ingest topic
    reader = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    try:
        partitions = sorted(reader.partitions_for_topic(topics.INGEST_SUPPORT) or [])
    finally:
        reader.close()
    assert partitions
    assert body["assigned_partitions"] == partitions
    ready = httpx.get(worker.url + "/readyz", timeout=5)
    assert (ready.status_code, ready.json()["ready"]) == (200, True)
