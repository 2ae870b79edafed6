"""Issue 11: the configured lead-status map applies to the Kafka-native path too.

``handoff serve raw-ingest`` runs as a real process on the real broker with
``HANDOFF_INGEST_LEAD_STATUS_MAP`` set: Salesforce Lead records produced straight to
``handoff.raw.salesforce`` (not posted over HTTP) go through the configured map, as the
HTTP path does. The records are Leads as Salesforce's REST API serialises them
(``attributes.type``, ``Id``, ``Status`` -- a picklist an org customises, so a value such
as "Nurturing" is the org's own -- ``Email``, ``Owner.Email``;
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_lead.htm).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from schemas import topics
from services.ingest.raw import raw_topic
from services.kafka_admin import ensure_topics
from services.local.kafka import free_port
from tests.processes import spawn, start_group_at_end, stop, wait_for, wait_healthy

TOPIC = raw_topic("salesforce")
STATUS_MAP = {"Nurturing": "mql", "Working - Contacted": "mql"}  # an org's own, one overridden


def lead(record_id: str, status: str) -> bytes:
    record = {
        "attributes": {"type": "Lead", "url": f"/services/data/v60.0/sobjects/Lead/{record_id}"},
        "Id": record_id,
        "FirstName": "Hanako",
        "LastName": "Sato",
        "Company": "アクメ精機",
        "Email": "hanako.sato@acme-raw.co.jp",
        "Status": status,
        "Owner": {"Email": "rep.one@handoff-demo.com"},
        "LastModifiedDate": "2026-03-02T08:30:00.000+0000",
    }
    return json.dumps(record, ensure_ascii=False).encode()


def produce(bootstrap: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for value in values:
            producer.send(TOPIC, key=b"acme-raw", value=value).get(timeout=10)
    finally:
        producer.close()


def lead_statuses(bootstrap: str, run: str) -> dict[str, Any]:
    """The lead ids of this run on ``handoff.ingest.sales`` and the stage each was given."""
    consumer = KafkaConsumer(
        topics.INGEST_SALES,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
    )
    try:
        found = {}
        for record in consumer:
            data = json.loads(record.value)["data"]
            if str(data.get("lead_id", "")).endswith(run):
                found[data["lead_id"]] = data["lead_status"]
        return found
    finally:
        consumer.close()


def test_raw_salesforce_leads_use_the_configured_status_map(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:10]
    group = f"test-raw-leads-{run}"
    ensure_topics(kafka_bootstrap, [TOPIC, topics.INGEST_SALES, topics.DLQ], partitions=4)
    start_group_at_end(kafka_bootstrap, group, TOPIC)
    produce(kafka_bootstrap, [lead(f"00QN{run}", "Nurturing"),
                              lead(f"00QW{run}", "Working - Contacted"),
                              lead(f"00QC{run}", "Closed - Not Converted")])  # fmt: skip
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(
        HANDOFF_KAFKA_BOOTSTRAP=kafka_bootstrap,
        HANDOFF_INGEST_RAW_SOURCES='["salesforce"]',
        HANDOFF_INGEST_RAW_CONSUMER_GROUP=group,
        HANDOFF_INGEST_RAW_SESSION_TIMEOUT_MS="6000",
        HANDOFF_INGEST_RAW_HOST="127.0.0.1",
        HANDOFF_INGEST_RAW_PORT=str(port),
        HANDOFF_INGEST_ACK_TIMEOUT_S="5",
        HANDOFF_INGEST_LEAD_STATUS_MAP=json.dumps(STATUS_MAP),
    )
    service = spawn("raw-ingest", f"http://127.0.0.1:{port}", env, tmp_path)
    try:
        wait_healthy(service)
        found: dict[str, Any] = {}

        def all_three() -> bool:
            found.update(lead_statuses(kafka_bootstrap, run))
            return len(found) == 3

        wait_for("the three leads on handoff.ingest.sales", all_three, timeout=60)
    finally:
        stop(service.proc)
    assert found == {
        f"00QN{run}": "mql",  # the org's own value, configured (the defaults know it not)
        f"00QW{run}": "mql",  # a standard value the configuration overrides (default: sql)
        f"00QC{run}": "lost",  # the defaults still apply to the rest
    }
