"""Run handoff's services as real processes in tests, and read topics back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError

from services.local.kafka import free_port
from services.local.processes import terminate

REPO_ROOT = Path(__file__).resolve().parents[1]
# The partitions of every topic two tests may share on the session's broker (the ingest
# topics, handoff.sla, handoff.feedback, ...): a platform's router keeps its tables'
# changelogs at HANDOFF_TOPIC_PARTITIONS (4), and Faust will not read a source topic with
# fewer partitions than its table's changelog; it warns and waits. The first test to create
# a shared topic decides its count for the session, so they all say the same.
SHARED_PARTITIONS = 4


def handoff_cli(
    env: dict[str, str], *args: str, cwd: Path = REPO_ROOT, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """``python -m services.cli *args`` run to its end; its exit code and output as text."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@dataclass(frozen=True)
class Service:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@dataclass(frozen=True)
class Platform:
    ingest: Service
    router: Service
    api: Service
    env: dict[str, str]


def platform_env(kafka_bootstrap: str, database_url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(
        HANDOFF_KAFKA_BOOTSTRAP=kafka_bootstrap,
        HANDOFF_DATABASE_URL=database_url,
        HANDOFF_API_AUTH="off",
        HANDOFF_INGEST_UNSIGNED_SOURCES='["support"]',  # as the demo: tests post unsigned
        HANDOFF_INGEST_PORT=str(free_port()),
        HANDOFF_API_PORT=str(free_port()),
        HANDOFF_ROUTER_WEB_PORT=str(free_port()),
        HANDOFF_ROUTER_APP_ID=f"handoff-router-{uuid.uuid4().hex[:8]}",
        HANDOFF_API_CONSUMER_GROUP=f"handoff-api-{uuid.uuid4().hex[:8]}",
        HANDOFF_ROUTER_DATA_DIR=str(home / "router"),
        HANDOFF_ROUTER_RULES_FILE=str(REPO_ROOT / "deploy" / "config" / "routing.yaml"),
        # the router prefers a rule set published on the broker over its file: this
        # platform's own key, never one another test published (the API follows it too)
        HANDOFF_ROUTER_RULES_KEY=f"platform-{uuid.uuid4().hex[:12]}",
        # this platform's events only, not what other tests left on the session's broker
        HANDOFF_ROUTER_OFFSET_RESET="latest",
        HANDOFF_API_OFFSET_RESET="latest",
    )
    return env


@contextmanager
def running_platform(env: dict[str, str], home: Path) -> Iterator[Platform]:
    """Start api, router and ingest as `python -m services.cli <name>`; stop them by PID."""
    ports = {
        "api": env["HANDOFF_API_PORT"],
        "router": env["HANDOFF_ROUTER_WEB_PORT"],
        "ingest": env["HANDOFF_INGEST_PORT"],
    }
    started: list[Service] = []
    try:
        for name, port in ports.items():
            started.append(spawn(name, f"http://127.0.0.1:{port}", env, home))
        for service in started:  # the router: partitions assigned, so "latest" misses nothing
            wait_healthy(service, path="/readyz" if service.name == "router" else "/healthz")
        api, router, ingest = started
        yield Platform(ingest=ingest, router=router, api=api, env=env)
    finally:
        for service in reversed(started):
            stop(service.proc)


def spawn(
    name: str, url: str, env: dict[str, str], home: Path, log_name: str | None = None
) -> Service:
    """Start `python -m services.cli serve <name>`; output in ``home/<log_name or name>.log``."""
    log = home / f"{log_name or name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", name],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Service(name, url, proc, log)


def wait_healthy(service: Service, timeout: float = 90.0, path: str = "/healthz") -> None:
    """Until ``path`` answers 200; fail with the log's tail if the process dies or stalls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise AssertionError(f"{service.name} exited early:\n{service.tail()}")
        try:
            if httpx.get(service.url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{service.name} not ready ({path}) in {timeout}s:\n{service.tail()}")


stop = terminate


def wait_for(
    what: str, probe: Callable[[], Any], timeout: float = 60.0, interval: float = 0.3
) -> Any:
    """Call ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := probe():
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def read_topic(
    bootstrap: str, topic: str, until: Callable[[list[Any]], bool], timeout: float = 60.0
) -> list[Any]:
    """Read ``topic`` from the beginning until ``until(records)`` holds."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
            if until(records):
                return records
        raise AssertionError(f"{topic}: condition not met in {timeout}s ({len(records)} records)")
    finally:
        consumer.close()


def start_group_at_end(bootstrap: str, group: str, topic: str, timeout: float = 30.0) -> None:
    """Commit the topic's end offsets for a new group, so it reads only what comes next."""
    deadline = time.monotonic() + timeout
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        found = consumer.partitions_for_topic(topic)
        assert found, f"topic {topic} has no partitions"
        specs = {TopicPartition(topic, p): OffsetSpec.LATEST for p in sorted(found)}
        while True:
            try:
                admin.reset_group_offsets(group, specs)
                return
            except KafkaError as exc:  # a fresh broker creates its offsets topic first
                if not getattr(exc, "retriable", False) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()
        admin.close()
