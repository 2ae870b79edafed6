"""Where the router's consumer group starts: raw inputs per the setting, the rest at the start.

``HANDOFF_ROUTER_OFFSET_RESET=latest`` means "route only what arrives from
now on" -- for the raw input topics (``handoff.ingest.*``) only. The router's
own topics (groups, accounts, clocks, capacity) and ``handoff.feedback``
carry work already accepted: a worker taking over a partition nobody had
committed yet must read it from the start, or decisions and clock stops
are skipped. Faust has one reset policy for every topic, so the app always
uses ``earliest``, and before the worker starts, each raw input partition
the group has no committed offset for is committed at its current end
(:func:`start_inputs_at_end`, ``services.kafka_offsets``). No Faust here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from kafka.structs import TopicPartition

from schemas import topics
from services.kafka_offsets import start_at_end

RAW_INPUTS: Final = (topics.INGEST_SUPPORT, topics.INGEST_SALES, topics.INGEST_CAPACITY)
EARLIEST: Final = "earliest"  # the Faust consumer's policy, whatever the setting
LATEST: Final = "latest"


def start_position(
    setting: str, bootstrap: str, group: str, pin: Callable[[str, str], object] | None = None
) -> None:
    """Before the worker starts: with ``latest``, pin the raw inputs at their end."""
    if setting == LATEST:
        (pin or start_inputs_at_end)(bootstrap, group)


def start_inputs_at_end(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """Commit the end offset of each raw input partition ``group`` never committed."""
    return start_at_end(bootstrap, group, RAW_INPUTS)
