"""The router's idempotency survives a restart: its table comes back from the changelog.

Its own module (and app id): a second worker of another consumer group would
route the same events again and spoil the count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from schemas import topics
from tests.integration.router_process import (
    Producer,
    metric,
    records_for,
    routed_ids,
    router_env,
    running_router,
    ticket_event,
    unique,
    warm_up,
)
from tests.processes import read_topic


def committed(bootstrap: str, group: str, sent: Any) -> int:
    """The group's committed offset for the partition ``sent`` went to (-1: none)."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        offset = reader.committed(TopicPartition(topics.INGEST_SUPPORT, sent.partition))
    finally:
        reader.close()
    return -1 if offset is None else int(offset)


def test_a_ticket_seen_again_after_a_restart_is_not_routed_again(
    kafka_bootstrap: str, tmp_path: Path, producer: Producer
) -> None:
    # the same app id and data dir for both runs; the first starts at the end of the shared
    # topics (what earlier tests left there is not this test's: 43 s of a suite run went to it)
    env = router_env(kafka_bootstrap, tmp_path, only_new=True)
    again, marker = unique("again"), unique("marker")
    key, email = b"initech.example", "carol@initech.example"

    with running_router(env, tmp_path, "first"):
        warm_up(kafka_bootstrap, producer)
        first = producer.send(key, ticket_event(again, requester_email=email))
        read_topic(kafka_bootstrap, topics.ROUTED, lambda rs: again in routed_ids(rs))
    # the work was done, so its offset was committed (at the latest when the worker stopped)
    assert committed(kafka_bootstrap, env["HANDOFF_ROUTER_APP_ID"], first) > first.offset

    with running_router(env, tmp_path, "second") as second:
        # e.g. a webhook retried after the first copy was routed and committed
        producer.send(key, ticket_event(again, requester_email=email))
        producer.send(key, ticket_event(marker, requester_email=email))
        routed = read_topic(kafka_bootstrap, topics.ROUTED, lambda rs: marker in routed_ids(rs))
        assert len(records_for(routed, again)) == 1
        assert metric(second, "handoff_router_events_total", outcome="duplicate") >= 1
