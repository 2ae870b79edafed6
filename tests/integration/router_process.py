"""Run a router worker as a real process (``python -m services.cli router``) for tests.

Each worker gets its own Faust app id (so its own consumer group and table
changelog), its own data dir and a free web port; it is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaProducer

from schemas import topics
from services.local.kafka import free_port
from tests.processes import REPO_ROOT, stop


@dataclass(frozen=True)
class RouterWorker:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def router_env(kafka_bootstrap: str, home: Path, app_id: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(
        HANDOFF_KAFKA_BOOTSTRAP=kafka_bootstrap,
        HANDOFF_ROUTER_APP_ID=app_id or f"handoff-router-test-{uuid.uuid4().hex[:8]}",
        HANDOFF_ROUTER_WEB_PORT=str(free_port()),
        HANDOFF_ROUTER_DATA_DIR=str(home / "router-data"),
        HANDOFF_ROUTER_RULES_FILE=str(REPO_ROOT / "deploy" / "config" / "rules.yaml"),
        HANDOFF_ROUTER_LOG_LEVEL="info",
    )
    return env


@contextmanager
def running_router(env: dict[str, str], home: Path, name: str = "router") -> Iterator[RouterWorker]:
    """Start a worker, wait until ``/readyz`` says it has its partitions; stop it after."""
    log = home / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", "router"],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    worker = RouterWorker(f"http://127.0.0.1:{env['HANDOFF_ROUTER_WEB_PORT']}", proc, log)
    try:
        wait_ready(worker)
        yield worker
    finally:
        stop(proc)


def wait_ready(worker: RouterWorker, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            raise AssertionError(f"router exited with {worker.proc.returncode}:\n{worker.tail()}")
        try:
            if httpx.get(worker.url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"router not ready in {timeout}s:\n{worker.tail()}")


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

    def close(self) -> None:
        self._producer.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def routed_ids(records: list[Any]) -> list[str]:
    """The source event ids of the task.routed records (other records ignored)."""
    ids = []
    for record in records:
        try:
            ids.append(json.loads(record.value)["data"]["source_event_id"])
        except (ValueError, KeyError, TypeError):
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
