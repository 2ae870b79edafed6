"""Batch import: counts, rejects with reasons, duplicates within a run, harmless re-runs."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from schemas.events import CloudEvent
from services.ingest import batch
from services.ingest.publisher import PublishError

from .adapters.fixtures import CTX, FIXTURES, load


@dataclass
class FakeBatchSink:
    fail_flush: bool = False
    sent: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    flushed: int = 0

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))

    def flush(self) -> None:
        if self.fail_flush:
            raise PublishError("batch", "Kafka did not acknowledge")
        self.flushed = len(self.sent)

    def close(self) -> None:
        pass


def jsonl(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_zendesk_export_with_a_bad_line_and_a_repeat(tmp_path: Path) -> None:
    good = json.dumps(load("zendesk_ticket_created.json"), ensure_ascii=False)
    update = json.dumps(load("zendesk_priority_changed.json"), ensure_ascii=False)
    path = jsonl(tmp_path, [good, "{broken", update, good, "", '{"ticket": {"id": 1}}'])
    sink, rejects = FakeBatchSink(), io.StringIO()
    ticks: list[int] = []

    summary = batch.run(path, "zendesk", sink, rejects, ctx=CTX, progress=ticks.append)

    assert summary.as_dict() | {"seconds": 0, "events_per_second": 0} == {
        "read": 5,
        "accepted": 2,
        "rejected": 2,
        "duplicates": 1,
        "events": 2,  # the ticket once, then only the update (its ticket was already sent)
        "seconds": 0,
        "events_per_second": 0,
    }
    assert sum(ticks) == 5
    assert sink.flushed == len(sink.sent) == 2
    types = [CloudEvent.from_bytes(v).type for _, _, v in sink.sent]
    assert types == ["support.ticket", "support.ticket_updated"]
    rejected = [json.loads(line) for line in rejects.getvalue().splitlines()]
    assert [r["line"] for r in rejected] == [2, 6]
    assert "invalid JSON" in rejected[0]["errors"][0]["msg"]
    assert rejected[1]["errors"][0]["loc"] == ["body", "ticket", "requester_email"]
    assert rejected[0]["raw"] == "{broken"


def test_re_running_a_file_sends_the_same_ids(tmp_path: Path) -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in load("salesforce_task_rush.json")]
    path = jsonl(tmp_path, lines)
    first, second = FakeBatchSink(), FakeBatchSink()
    batch.run(path, "salesforce", first, io.StringIO(), ctx=CTX)
    batch.run(path, "salesforce", second, io.StringIO(), ctx=CTX)
    assert [v for _, _, v in first.sent] == [v for _, _, v in second.sent]


def test_a_capacity_csv_one_event_per_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "cap.csv"
    content = (FIXTURES / "capacity.csv").read_text(encoding="utf-8")
    path.write_text(content + "Nagoya-1;Line A;WX-200;2026-03-13;lots;2026-03-02T06:00:00+09:00\n")
    sink, rejects = FakeBatchSink(), io.StringIO()

    summary = batch.run(path, "capacity-csv", sink, rejects, ctx=CTX)

    assert (summary.read, summary.accepted, summary.rejected, summary.events) == (5, 4, 1, 2)
    assert json.loads(rejects.getvalue())["line"] == 6
    assert batch.count_records(path) == 5


def test_kafka_failing_raises_so_the_run_can_be_repeated(tmp_path: Path) -> None:
    path = jsonl(tmp_path, [json.dumps(load("hubspot_deal_won.json"))])
    with pytest.raises(PublishError):
        batch.run(path, "hubspot", FakeBatchSink(fail_flush=True), io.StringIO(), ctx=CTX)


def test_windows_are_flushed_as_they_fill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "WINDOW", 2)
    monkeypatch.setattr(batch, "PROGRESS_EVERY", 2)
    ticket = {"subject": "s", "requester_email": "a@b.example"}
    path = jsonl(tmp_path, [json.dumps(ticket | {"ticket_id": f"T{i}"}) for i in range(5)])
    flushes: list[int] = []
    sink = FakeBatchSink()
    original = sink.flush

    def counting_flush() -> None:
        flushes.append(len(sink.sent))
        original()

    sink.flush = counting_flush  # type: ignore[method-assign]
    ticks: list[int] = []
    summary = batch.run(path, "handoff", sink, io.StringIO(), ctx=CTX, progress=ticks.append)
    assert flushes == [2, 4, 5]
    assert ticks == [2, 2, 1]
    assert summary.accepted == 5


def test_the_rate_is_events_per_second() -> None:
    summary = batch.Summary(events=1000, seconds=0.5)
    assert summary.rate == 2000.0
    assert batch.Summary().rate == 0.0
