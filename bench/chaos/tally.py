"""Read back what came out: every ``task.routed`` and dead letter of one run.

A tally reads a topic from where it ended when the tally was made (so a
shared broker's older records are skipped) with one consumer kept open, and
keeps, per event id of the run, the task ids it was routed under.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from schemas import topics
from schemas.dlq import DeadLetter
from services.kafka_group import RECONNECT_BACKOFF_MAX_MS

PARKED = "CallbackDeliveryFailed"
_DELIVERY = re.compile(r"callback delivery (\S+) to ")


class Tally:
    """The records of ``topic`` that mention ``run``, as they arrive."""

    def __init__(self, bootstrap: str, topic: str, run: str) -> None:
        self.run = run
        self.records = 0
        self.stamps: list[float] = []  # each record's timestamp (when it was produced), epoch s
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,  # as the services: read on at once
        )  # fmt: skip
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
        self.listed: set[str] = set()  # every id a task.routed listed, not only its newest
        super().__init__(bootstrap, topics.ROUTED, run)

    def take(self, value: bytes) -> None:
        try:
            data = json.loads(value)["data"]
            event_id = (data.get("event_ids") or [data["source_event_id"]])[-1]
            self.tasks[event_id].add(data["task_id"])
            self.listed.update(data.get("event_ids") or ())
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


class ParkedLetters:
    """Per parked delivery, how many ``CallbackDeliveryFailed`` letters name it."""

    def __init__(self) -> None:
        self.deliveries: Counter[str] = Counter()
        self.unnamed: list[str] = []  # letters of the run that name no delivery

    def take(self, value: bytes) -> None:
        try:
            letter = DeadLetter.from_bytes(value)
        except ValueError:
            self.unnamed.append(value[:120].decode("utf-8", "replace"))
            return
        named = _DELIVERY.search(letter.reason)
        if letter.error_type != PARKED or named is None:
            self.unnamed.append(f"{letter.error_type}: {letter.reason[:120]}")
            return
        self.deliveries[named.group(1)] += 1

    def problems(self, ids: list[str]) -> list[str]:
        """Not exactly one letter, with its reason, per parked delivery."""
        missing = len(set(ids) - self.deliveries.keys())
        twice = sum(1 for key in ids if self.deliveries[key] > 1)
        found = [f"{missing} parked deliveries without a letter"] if missing else []
        found += [f"{twice} deliveries with more than one letter"] if twice else []
        return found + [f"a letter naming no delivery: {u}" for u in self.unnamed[:3]]


class Letters(Tally):
    """The run's dead letters on ``handoff.dlq``, counted per parked delivery."""

    def __init__(self, bootstrap: str, run: str) -> None:
        self.count = ParkedLetters()
        super().__init__(bootstrap, topics.DLQ, run)

    def take(self, value: bytes) -> None:
        self.count.take(value)

    def poll_count(self) -> int:
        """Poll once; the letters seen so far (progress for a wait)."""
        self.poll()
        return self.records

    def for_ids(self, ids: list[str]) -> set[str]:
        return set(ids) & self.count.deliveries.keys()

    def problems(self, ids: list[str]) -> list[str]:
        return self.count.problems(ids)


def _partitions(consumer: Any, topic: str, timeout_s: float = 30.0) -> list[TopicPartition]:
    deadline = time.monotonic() + timeout_s
    while not (found := consumer.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} has no partitions")
        time.sleep(0.2)
        consumer.topics()  # refresh the metadata
    return [TopicPartition(topic, p) for p in sorted(found)]
