"""Issue 10 (2): HANDOFF_ROUTER_OFFSET_RESET=latest moves only the raw inputs, never the
router's own topics, so a worker taking over a partition cannot skip internal events."""

from __future__ import annotations

from pathlib import Path

from kafka.structs import OffsetAndMetadata, TopicPartition

from schemas import topics
from services.kafka_offsets import to_pin
from services.router.app import _faust_app
from services.router.offsets import RAW_INPUTS, start_position
from services.router.settings import RouterSettings


def test_the_faust_consumer_starts_every_topic_at_the_beginning_even_with_latest(
    tmp_path: Path,
) -> None:
    settings = RouterSettings(
        router_offset_reset="latest",
        router_data_dir=tmp_path,
        kafka_bootstrap="127.0.0.1:1",
    )
    app = _faust_app(settings)
    assert app.conf.consumer_auto_offset_reset == "earliest"


def test_only_the_raw_inputs_follow_the_setting() -> None:
    assert set(RAW_INPUTS) == {
        topics.INGEST_SUPPORT,
        topics.INGEST_SALES,
        topics.INGEST_CAPACITY,
    }
    assert topics.FEEDBACK not in RAW_INPUTS


def test_latest_pins_the_inputs_before_the_worker_starts() -> None:
    pinned: list[tuple[str, str]] = []
    start_position("latest", "127.0.0.1:9", "handoff-router", lambda b, g: pinned.append((b, g)))
    assert pinned == [("127.0.0.1:9", "handoff-router")]


def test_earliest_pins_nothing() -> None:
    pinned: list[tuple[str, str]] = []
    start_position("earliest", "127.0.0.1:9", "handoff-router", lambda b, g: pinned.append((b, g)))
    assert pinned == []


def test_only_partitions_never_committed_are_pinned_at_their_end() -> None:
    p0, p1 = TopicPartition(topics.INGEST_SUPPORT, 0), TopicPartition(topics.INGEST_SUPPORT, 1)
    assert to_pin({p0: 7, p1: None}, {p0: 10, p1: 42}) == {p1: OffsetAndMetadata(42, "", -1)}
