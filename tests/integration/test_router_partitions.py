"""A router whose topics disagree on partitions refuses to start, saying which and how to fix.

Faust keeps each table's changelog partitioned as its source topic; given fewer it warns
every 10 s and routes nothing from that topic, for ever. That was seen in the suite
(a test had made handoff.ingest.support with 1 partition; the router's changelog had 4),
and happens to a user whose ingest wrote before the router made its topics: the broker
auto-creates with its num.partitions, 1 on a stock Kafka.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from services.kafka_admin import ensure_topics, partition_counts
from tests.integration.router_process import router_env
from tests.processes import SHARED_PARTITIONS, handoff_cli


def test_partition_counts_are_read_from_the_broker(kafka_bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    one, four, absent = f"parts-{run}-1", f"parts-{run}-4", f"parts-{run}-absent"
    ensure_topics(kafka_bootstrap, [one], 1)
    ensure_topics(kafka_bootstrap, [four], 4)
    assert partition_counts(kafka_bootstrap, [one, four, absent]) == {one: 1, four: 4}


def test_a_changelog_with_fewer_partitions_stops_the_router_at_start(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = router_env(kafka_bootstrap, tmp_path)
    changelog = f"{env['HANDOFF_ROUTER_APP_ID']}-accounts_to_requests-changelog"
    ensure_topics(kafka_bootstrap, [changelog], 1, {"cleanup.policy": "compact"})
    done = handoff_cli(env, "serve", "router")
    assert done.returncode != 0
    said = done.stderr.strip().splitlines()[-1]
    assert said.startswith("router: cannot start: "), said
    assert f"{changelog} has 1" in said
    assert f"HANDOFF_TOPIC_PARTITIONS={SHARED_PARTITIONS} partitions each" in said
    assert "handoff.ingest.support" not in said  # the shared topics agree
