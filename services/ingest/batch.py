"""Batch import: a JSON Lines or CSV export -> the same adapters -> Kafka, acknowledged.

Harmless to re-run: event ids are deterministic, so a re-imported line is the same
event (the router's dedup drops it). Within one run an id already sent is counted as a
duplicate and not sent again. Rejected lines go to a rejects file with their reasons.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from kafka import KafkaProducer
from kafka.errors import KafkaError

from services.ingest.adapters import ADAPTERS, capacity_csv
from services.ingest.adapters.base import AdapterContext, AdapterError, Normalised
from services.ingest.decoding import JsonLimits, decode_json
from services.ingest.publisher import PublishError, probe_tcp, producer_config

WINDOW = 5000  # records in flight before waiting for their acknowledgements
PROGRESS_EVERY = 250  # records between progress callbacks (a bar redrawn per record is slow)


class BatchSink(Protocol):
    def send(self, topic: str, key: bytes, value: bytes) -> None:
        """Hand over a record; failures surface at the next ``flush``."""

    def flush(self) -> None:
        """Return once every record handed over was acknowledged; raise PublishError if not."""

    def close(self) -> None: ...


class KafkaBatchSink:
    """Sends without waiting per record, then waits for every ack (acks=all, idempotent)."""

    def __init__(self, bootstrap: str, *, ack_timeout_s: float) -> None:
        probe_tcp(bootstrap, ack_timeout_s)
        config = producer_config(
            bootstrap,
            client_id="handoff-ingest-batch",
            ack_timeout_s=ack_timeout_s,
            connect_timeout_s=ack_timeout_s,
        )
        # Throughput over latency: a partition's batch goes when it is full or at the window's
        # flush. 50,000 Zendesk lines went in 26 s instead of 33 s (linger 20 ms, 64 KB
        # batches): fewer, larger produce requests, and a sender woken per batch, not per
        # record (issue 15, target 5).
        config["linger_ms"] = 500
        config["delivery_timeout_ms"] = config["request_timeout_ms"] * 3 + config["linger_ms"]
        config["batch_size"] = 1_000_000  # under max_request_size (1 MiB)
        self._producer = KafkaProducer(**config)
        self._timeout = ack_timeout_s
        self._pending: list[Any] = []

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        try:
            self._pending.append(self._producer.send(topic, key=key, value=value))
        except KafkaError as exc:
            raise PublishError(topic, f"Kafka refused the record ({exc!r})") from exc

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        try:
            self._producer.flush(timeout=self._timeout * 3)
            for future in pending:
                future.get(timeout=self._timeout)
        except KafkaError as exc:
            raise PublishError("batch", f"Kafka did not acknowledge ({exc!r})") from exc

    def close(self) -> None:
        self._producer.close(timeout=self._timeout)


@dataclass
class Summary:
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    events: int = 0
    seconds: float = 0.0
    seen: set[str] = field(default_factory=set, repr=False)

    @property
    def rate(self) -> float:
        """Accepted events per second."""
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.rate, 1),
        }


@dataclass(frozen=True)
class Record:
    number: int
    raw: str
    events: list[Normalised] | None = None
    error: AdapterError | None = None


Progress = Callable[[int], None]


def count_records(path: Path) -> int:
    """Data lines in the file (for the progress bar's total and ETA)."""
    with path.open("rb") as handle:
        lines = sum(1 for line in handle if line.strip())
    return max(0, lines - 1) if path.suffix.lower() == ".csv" or _is_csv(path) else lines


def records(path: Path, source: str, ctx: AdapterContext) -> Iterator[Record]:
    if source == "capacity-csv":
        yield from _csv_records(path, ctx)
        return
    adapter = ADAPTERS[source]
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            yield _json_record(number, line.rstrip("\n"), adapter, ctx)


def run(
    path: Path,
    source: str,
    sink: BatchSink,
    rejects: IO[str],
    *,
    ctx: AdapterContext | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Summary:
    """Import every record; raise PublishError (after flushing what it could) if Kafka fails."""
    ctx = ctx or AdapterContext(received_at=datetime.now(UTC))
    summary = Summary()
    started = clock()
    in_flight: list[int] = []  # events of each accepted record not yet acknowledged
    unreported = 0
    for record in records(path, source, ctx):
        summary.read += 1
        if record.error is not None or record.events is None:
            summary.rejected += 1
            _reject(rejects, record)
        else:
            fresh = [e for e in record.events if e.event.id not in summary.seen]
            if record.events and not fresh:
                summary.duplicates += 1
            else:
                for out in fresh:
                    summary.seen.add(out.event.id)
                    sink.send(out.topic, out.key.encode(), out.event.to_bytes())
                in_flight.append(len(fresh))
            if len(in_flight) >= WINDOW:
                _settle(sink, in_flight, summary)
        unreported += 1
        if progress and unreported >= PROGRESS_EVERY:
            progress(unreported)
            unreported = 0
    _settle(sink, in_flight, summary)
    if progress and unreported:
        progress(unreported)
    summary.seconds = clock() - started
    return summary


def _settle(sink: BatchSink, in_flight: list[int], summary: Summary) -> None:
    sink.flush()
    summary.events += sum(in_flight)
    summary.accepted += len(in_flight)
    in_flight.clear()


def _json_record(
    number: int, line: str, adapter: Callable[[object, AdapterContext], list[Normalised]],
    ctx: AdapterContext,
) -> Record:  # fmt: skip
    raw = line.encode("utf-8", "surrogateescape")  # the file's bytes, as read
    try:
        payload = decode_json(raw, JsonLimits(), ("line", number))
        return Record(number, line, events=adapter(payload, ctx))
    except AdapterError as exc:
        return Record(number, line, error=exc)


def _csv_records(path: Path, ctx: AdapterContext) -> Iterator[Record]:
    """Each row; a snapshot's event rides on its first row, its other rows carry none."""
    content = path.read_text(encoding="utf-8", errors="replace")
    lines = content.removeprefix("\ufeff").splitlines()
    rows, errors = capacity_csv.parse(content, ctx)
    events, more = capacity_csv.events(rows, ctx)
    bad = {e.number: e for e in errors + more}
    by_key = {_key_of(out): out for out in events}
    by_number = {row.number: row for row in rows}
    sent: set[str] = set()
    for number in sorted(set(bad) | {r.number for r in rows}):
        raw = lines[number - 1] if number <= len(lines) else ""
        if number in bad:
            yield Record(number, raw, error=bad[number].error)
            continue
        row = by_number[number]
        out = by_key.get((row.plant, row.line, row.product_family, row.as_of))
        first = out is not None and out.event.id not in sent
        if out is not None:
            sent.add(out.event.id)
        yield Record(number, raw, events=[out] if first and out else [])


def _key_of(out: Normalised) -> tuple[str, str, str | None, datetime]:
    data = out.event.data
    as_of = datetime.fromisoformat(data["as_of"].replace("Z", "+00:00"))
    return data["plant"], data["line"], data.get("product_family"), as_of


def _reject(rejects: IO[str], record: Record) -> None:
    errors = record.error.errors if record.error else []
    line = {"line": record.number, "errors": errors, "raw": record.raw}
    rejects.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")


def _is_csv(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".tsv")
