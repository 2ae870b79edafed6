"""Run a router worker as a real process (``python -m services.cli router``) for tests.

Each worker gets its own Faust app id (so its own consumer group and table
changelog), its own data dir and a free web port; it is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, KafkaProducer

from schemas import topics
from services.local.kafka import free_port
from tests.processes import REPO_ROOT, Service, read_topic, spawn, stop, wait_healthy

# A router worker is a service like the others; it is ready once /readyz says so.
RouterWorker = Service


def router_env(
    kafka_bootstrap: str,
    home: Path,
    app_id: str | None = None,
    rules: Path | None = None,
    *,
    only_new: bool = False,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(
        HANDOFF_KAFKA_BOOTSTRAP=kafka_bootstrap,
        HANDOFF_ROUTER_APP_ID=app_id or f"handoff-router-test-{uuid.uuid4().hex[:8]}",
        HANDOFF_ROUTER_WEB_PORT=str(free_port()),
        HANDOFF_ROUTER_DATA_DIR=str(home / "router-data"),
        HANDOFF_ROUTER_RULES_FILE=str(rules or REPO_ROOT / "deploy" / "config" / "routing.yaml"),
        HANDOFF_ROUTER_RULES_KEY=f"test-{uuid.uuid4().hex}",  # no other test's published rules
        HANDOFF_ROUTER_LOG_LEVEL="info",
    )
    if only_new:  # skip what other tests left on the shared topics (then warm_up first)
        env["HANDOFF_ROUTER_OFFSET_RESET"] = "latest"
    return env


@contextmanager
def running_router(env: dict[str, str], home: Path, name: str = "router") -> Iterator[RouterWorker]:
    """Start a worker, wait until ``/readyz`` says it has its partitions; stop it after."""
    url = f"http://127.0.0.1:{env['HANDOFF_ROUTER_WEB_PORT']}"
    worker = spawn("router", url, env, home, log_name=name)
    try:
        wait_healthy(worker, path="/readyz")
        yield worker
    finally:
        stop(worker.proc)


def ticket_event(event_id: str, **data: Any) -> bytes:
    """A ``support.ticket`` CloudEvent as ingest would produce it."""
    ticket: dict[str, Any] = {
        "ticket_id": f"ZD-{event_id}",
        "subject": "請求書の画面が分かりにくい",
        "description": "<p>支払い方法の変更ボタンが見つかりません</p>",
        "requester_email": "taro@example.co.jp",
        "priority": "urgent",
        "component": "billing-ui",
    }
    ticket.update(data)
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": "handoff/ingest/support",
        "type": "support.ticket",
        "time": datetime.now(UTC).isoformat(),
        "data": ticket,
    }
    return json.dumps(event, ensure_ascii=False).encode("utf-8")


def warm_up(bootstrap: str, producer: Producer) -> None:
    """For a worker that starts at the latest offsets: one event on every partition of
    both ingest topics, seen routed, proves every position is set before a test
    produces (an event produced before its partition's position was reset is skipped)."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = {
            topic: sorted(reader.partitions_for_topic(topic) or [])
            for topic in (topics.INGEST_SUPPORT, topics.INGEST_SALES)
        }
    finally:
        reader.close()
    probes: set[str] = set()
    while True:
        for topic, numbers in partitions.items():
            for partition in numbers:
                probe = unique("probe")
                value = (
                    ticket_event(probe)
                    if topic == topics.INGEST_SUPPORT
                    else sales_event(probe, intent="quote_request")
                )
                producer.send_to(topic, partition, probe.encode(), value)
                probes.add(probe)
        try:
            read_topic(bootstrap, topics.ROUTED, _covers(probes), timeout=30)
            return
        except AssertionError:  # a probe fell before its partition was positioned: again
            probes.clear()


def _covers(wanted: set[str]) -> Callable[[list[Any]], bool]:
    """A read_topic condition that looks at each record once (topics grow large)."""
    seen: set[str] = set()
    done = 0

    def until(records: list[Any]) -> bool:
        nonlocal done
        seen.update(routed_ids(records[done:]))
        done = len(records)
        return bool(wanted) and wanted <= seen

    return until


def cloud_event(event_id: str, type_: str, data: dict[str, Any], **attrs: str) -> bytes:
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": "handoff/ingest/test",
        "type": type_,
        "time": datetime.now(UTC).isoformat(),
        "data": data,
        **attrs,
    }
    return json.dumps(event, ensure_ascii=False).encode("utf-8")


def sales_event(event_id: str, **data: Any) -> bytes:
    """A ``sales.note`` (a rush order unless told otherwise)."""
    note: dict[str, Any] = {
        "intent": "rush_order",
        "subject": "500台を12日までに",
        "rep_email": "rep@handoff.example",
        "crm_account_id": "ACME-1",
        "product_line": "widgets",
        "quantity": 500,
        "due_date": (datetime.now(UTC).date() + timedelta(days=20)).isoformat(),
    }
    note.update(data)
    return cloud_event(event_id, "sales.note", note)


def capacity_event(event_id: str, line: str, free: dict[str, int]) -> bytes:
    body = {
        "plant": "kyoto",
        "line": line,
        "as_of": datetime.now(UTC).isoformat(),
        "free": [{"date": day, "units": units} for day, units in free.items()],
    }
    return cloud_event(event_id, "production.capacity", body)


def lifecycle_event(task_id: str, type_: str) -> bytes:
    """What the API puts on handoff.feedback when a task changes (the subject is the task)."""
    return cloud_event(
        unique("lifecycle"), type_, {"task_id": task_id, "message": "ok"}, subject=task_id
    )


def write_rules(home: Path, text: str, name: str = "routing.yaml") -> Path:
    path = home / name
    path.write_text(text, encoding="utf-8")
    return path


class Producer:
    """kafka-python, acks=all, idempotent; ``send`` waits for the ack and returns it."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
        )

    def send(
        self, key: bytes | None, value: bytes | None, topic: str = topics.INGEST_SUPPORT
    ) -> Any:
        return self._producer.send(topic, key=key, value=value).get(timeout=30)

    def send_to(self, topic: str, partition: int, key: bytes, value: bytes) -> Any:
        return self._producer.send(topic, key=key, value=value, partition=partition).get(30)

    def send_all(
        self, messages: list[tuple[bytes, bytes]], topic: str = topics.INGEST_SUPPORT
    ) -> None:
        """Send a stream without waiting for each ack; return once all were acknowledged."""
        futures = [self._producer.send(topic, key=k, value=v) for k, v in messages]
        for future in futures:
            future.get(timeout=60)

    def close(self) -> None:
        self._producer.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def routed_ids(records: list[Any]) -> list[str]:
    """For each task.routed record, the event that caused it (other records ignored).

    A task that grouped several events is re-emitted as each joins it: the
    record names the newest one last in ``event_ids``.
    """
    ids = []
    for record in records:
        try:
            data = json.loads(record.value)["data"]
            ids.append((data.get("event_ids") or [data["source_event_id"]])[-1])
        except (ValueError, KeyError, TypeError, IndexError):
            continue
    return ids


def records_for(records: list[Any], event_id: str) -> list[Any]:
    return [r for r in records if routed_ids([r]) == [event_id]]


def metric(worker: RouterWorker, name: str, **labels: str) -> float:
    text = httpx.get(worker.url + "/metrics", timeout=5).text
    wanted = name + (
        "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
    )
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{wanted} not in /metrics")
