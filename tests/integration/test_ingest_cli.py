"""``handoff ingest FILE --source ...`` as a real command against the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from schemas import topics
from schemas.events import CloudEvent
from services.kafka_admin import ensure_topics
from tests.processes import handoff_cli

LINES = 300


def run_cli(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["HANDOFF_KAFKA_BOOTSTRAP"] = bootstrap
    return handoff_cli(env, "ingest", *args)


def test_import_twice_is_harmless_and_rejects_are_written(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    ensure_topics(kafka_bootstrap, [topics.INGEST_SUPPORT], partitions=4)
    run = uuid.uuid4().hex[:8]
    path = tmp_path / "tickets.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(LINES):
            ticket = {"ticket_id": f"{run}-{i}", "subject": f"件名 {i}",
                      "requester_email": f"user{i % 50}@example{i % 7}.co.jp"}  # fmt: skip
            out.write(json.dumps(ticket, ensure_ascii=False) + "\n")
        out.write('{"ticket_id": "x", "subject": ""}\n')
        out.write(
            json.dumps(
                {"ticket_id": f"{run}-0", "subject": "again", "requester_email": "a@b.example"}
            )
            + "\n"
        )
    reader = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None)
    partitions = [TopicPartition(topics.INGEST_SUPPORT, p) for p in range(4)]
    start = reader.end_offsets(partitions)

    first = run_cli(kafka_bootstrap, str(path), "--source", "handoff", "--json")
    again = run_cli(kafka_bootstrap, str(path), "--source", "handoff", "--json")

    assert first.returncode == 1, first.stderr  # some lines were rejected
    assert first.stdout, first.stderr
    summary = json.loads(first.stdout)
    assert {k: summary[k] for k in ("read", "accepted", "rejected", "duplicates")} == {
        "read": LINES + 2,
        "accepted": LINES,
        "rejected": 1,
        "duplicates": 1,
    }
    assert summary["events_per_second"] > 0
    assert first.stderr == ""  # no progress bar when stderr is not a terminal
    assert json.loads(again.stdout)["accepted"] == LINES
    rejects = (tmp_path / "tickets.jsonl.rejects.jsonl").read_text(encoding="utf-8")
    [reject] = [json.loads(line) for line in rejects.splitlines()]
    assert reject["line"] == LINES + 1
    assert {tuple(e["loc"]) for e in reject["errors"]} >= {("body", "subject")}

    end = reader.end_offsets(partitions)
    reader.assign(partitions)
    for tp in partitions:
        reader.seek(tp, start[tp])
    ids: list[str] = []
    deadline = time.monotonic() + 30
    wanted = sum(end[tp] - start[tp] for tp in partitions)
    seen = 0
    while seen < wanted and time.monotonic() < deadline:
        for tp, batch in reader.poll(timeout_ms=300).items():
            for record in batch:
                if record.offset < end[tp]:
                    seen += 1
                    event = CloudEvent.from_bytes(record.value)
                    if (event.subject or "").startswith(run):
                        ids.append(event.id)
    reader.close()
    assert len(ids) == 2 * LINES  # each run sent every ticket once, with the same ids
    assert len(set(ids)) == LINES
