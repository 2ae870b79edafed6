"""Read back what came out: every ``task.routed`` and dead letter of one run.

A tally reads a topic from where it ended when the tally was made (so a
shared broker's older records are skipped) with one consumer kept open, and
keeps, per event id of the run, the task ids it was routed under.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from schemas import topics


class Tally:
    """The records of ``topic`` that mention ``run``, as they arrive."""

    def __init__(self, bootstrap: str, topic: str, run: str) -> None:
        self.run = run
        self.records = 0
        self.stamps: list[float] = []  # each record's timestamp (when it was produced), epoch s
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )
        partitions = _partitions(self._consumer, topic)
        self._consumer.assign(partitions)
        ends = self._consumer.end_offsets(partitions)
        for partition in partitions:
            self._consumer.seek(partition, ends[partition])

    def poll(self, timeout_s: float = 0.5) -> None:
        for batch in self._consumer.poll(timeout_ms=int(timeout_s * 1000)).values():
            for record in batch:
                if record.value is not None and self.run.encode() in record.value:
                    self.records += 1
                    self.stamps.append(record.timestamp / 1000)
                    self.take(record.value)

    def take(self, value: bytes) -> None:
        """Keep what a record says (only counted here)."""

    def close(self) -> None:
        self._consumer.close()


class RoutedTally(Tally):
    """Per event of the run: the task ids it was routed under."""

    def __init__(self, bootstrap: str, run: str) -> None:
        self.tasks: dict[str, set[str]] = defaultdict(set)
        super().__init__(bootstrap, topics.ROUTED, run)

    def take(self, value: bytes) -> None:
        try:
            data = json.loads(value)["data"]
            event_id = (data.get("event_ids") or [data["source_event_id"]])[-1]
            self.tasks[event_id].add(data["task_id"])
        except (ValueError, KeyError, TypeError, IndexError):
            return

    def wait_for(self, ids: set[str], timeout_s: float, idle_s: float | None = None) -> bool:
        """Poll until every id in ``ids`` is routed; whether they all were.

        Gives up after ``timeout_s``, or once nothing new arrived for ``idle_s``: what is
        missing then is not late, it is not coming (a router that still works through a
        backlog keeps producing).
        """
        deadline = time.monotonic() + timeout_s
        last, seen = time.monotonic(), self.records
        while not ids <= self.tasks.keys():
            now = time.monotonic()
            if now > deadline or (idle_s is not None and now - last > idle_s):
                return False
            self.poll()
            if self.records != seen:
                last, seen = time.monotonic(), self.records
        return True

    def duplicated(self) -> int:
        """Events routed under more than one task id (a re-send of one id is harmless)."""
        return sum(1 for tasks in self.tasks.values() if len(tasks) > 1)


class IdTally(Tally):
    """The CloudEvent ids of the run's records (what ingest wrote to its topic)."""

    def __init__(self, bootstrap: str, topic: str, run: str) -> None:
        self.ids: set[str] = set()
        super().__init__(bootstrap, topic, run)

    def take(self, value: bytes) -> None:
        try:
            self.ids.add(str(json.loads(value)["id"]))
        except (ValueError, KeyError, TypeError):
            return

    def drain(self) -> None:
        """Read until a poll brings nothing new."""
        before = -1
        while self.records != before:
            before = self.records
            self.poll(2.0)


def _partitions(consumer: Any, topic: str, timeout_s: float = 30.0) -> list[TopicPartition]:
    deadline = time.monotonic() + timeout_s
    while not (found := consumer.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} has no partitions")
        time.sleep(0.2)
        consumer.topics()  # refresh the metadata
    return [TopicPartition(topic, p) for p in sorted(found)]
