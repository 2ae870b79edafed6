"""`handoff serve raw-ingest` on the real broker: what it did shows on its /metrics.

The command runs as a real process with its status endpoint on a free port of
127.0.0.1; one good and one bad record on ``handoff.raw.hubspot`` become one
normalised and one dead-lettered record in its counters, read over HTTP.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import httpx
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from schemas import topics
from services.ingest.raw import raw_topic
from services.kafka_admin import ensure_topics
from services.local.kafka import free_port
from tests.processes import spawn, start_group_at_end, stop, wait_for, wait_healthy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
TOPIC = raw_topic("hubspot")


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url + "/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def records(outcome: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("handoff_ingest_raw_records_total", (("outcome", outcome), ("source", "hubspot")))


def test_raw_ingest_counts_a_good_and_a_bad_record_on_its_metrics(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:10]
    group = f"test-raw-ingest-{run}"
    ensure_topics(kafka_bootstrap, [TOPIC, topics.INGEST_SALES, topics.DLQ], partitions=4)
    start_group_at_end(kafka_bootstrap, group, TOPIC)
    deal = json.loads((FIXTURES / "hubspot_deal_won.json").read_text(encoding="utf-8"))
    good = json.dumps(deal | {"id": f"raw-{run}"}).encode()
    bad = json.dumps({"id": f"bad-{run}", "properties": {"dealstage": "closedwon"}}).encode()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        for value in (good, bad):
            producer.send(TOPIC, key=f"k-{run}".encode(), value=value).get(timeout=10)
    finally:
        producer.close()

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(
        HANDOFF_KAFKA_BOOTSTRAP=kafka_bootstrap,
        HANDOFF_INGEST_RAW_SOURCES='["hubspot"]',
        HANDOFF_INGEST_RAW_CONSUMER_GROUP=group,
        HANDOFF_INGEST_RAW_SESSION_TIMEOUT_MS="6000",
        HANDOFF_INGEST_RAW_HOST="127.0.0.1",
        HANDOFF_INGEST_RAW_PORT=str(port),
        HANDOFF_INGEST_ACK_TIMEOUT_S="5",
    )
    service = spawn("raw-ingest", f"http://127.0.0.1:{port}", env, tmp_path)
    try:
        wait_healthy(service)
        health = httpx.get(service.url + "/healthz", timeout=5).json()
        assert (health["status"], health["consuming"]) == ("ok", True)

        def both_counted() -> bool:
            found = samples(service.url)
            return found[records("normalised")] == 1 and found[records("dead_lettered")] == 1

        wait_for("both records on /metrics", both_counted, timeout=60)
        found = samples(service.url)
        hubspot = (("source", "hubspot"),)
        assert found[("handoff_ingest_raw_records_consumed_total", hubspot)] == 2
        assert found[("handoff_ingest_raw_produce_retries_total", hubspot)] == 0
        assert found[("handoff_ingest_raw_last_commit_timestamp_seconds", ())] > time.time() - 120
        legacy = "handoff_ingest_events_total"
        assert found[(legacy, (("outcome", "accepted"), ("source", "raw:hubspot")))] == 1
        assert found[(legacy, (("outcome", "dead_lettered"), ("source", "raw:hubspot")))] == 1
    finally:
        stop(service.proc)
    assert service.proc.returncode == 0, service.tail()  # SIGTERM: a clean stop
    assert "raw ingest: /metrics and /healthz on http://127.0.0.1:" in service.tail()
