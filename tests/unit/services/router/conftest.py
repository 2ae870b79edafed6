"""A router app with a fake Kafka producer, for ``agent.test_context()`` tests.

``test_context()`` feeds the agent from an in-memory channel, but whatever the
agent sends to *other* topics still goes through ``app.producer`` (aiokafka),
which would try to reach a broker. ``FakeProducer`` replaces it at that edge
and records each message; it acknowledges at once unless told to fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import RecordMetadata, TopicPartition
from prometheus_client import CollectorRegistry

from services.router.app import AGENT_NAME, build_app
from services.router.rules_file import read_rules
from services.router.settings import RouterSettings

REPO_ROOT = Path(__file__).resolve().parents[4]
ROUTED_AT = datetime(2026, 11, 20, 9, 0, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Sent:
    topic: str
    key: bytes | None
    value: bytes


@dataclass
class FakeProducer:
    """Stands in for faust's aiokafka producer; ``fail_next`` sends fail like a timeout."""

    sent: list[Sent] = field(default_factory=list)
    changelog: list[Any] = field(default_factory=list)
    fail_next: int = 0

    async def maybe_start(self) -> None:
        return None

    async def send(
        self, topic: str, key: bytes | None, value: bytes, **_: Any
    ) -> asyncio.Future[RecordMetadata]:
        acked: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        if self.fail_next > 0:
            self.fail_next -= 1
            acked.set_exception(KafkaTimeoutError())
            return acked
        self.sent.append(Sent(topic, key, value))
        offset = sum(1 for s in self.sent if s.topic == topic) - 1
        acked.set_result(RecordMetadata(topic, 0, TopicPartition(topic, 0), offset, -1, 0, 0))
        return acked

    def send_soon(self, fut: Any) -> None:
        self.changelog.append(fut)

    def to(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]


@dataclass(frozen=True)
class Router:
    app: Any
    agent: Any
    producer: FakeProducer
    registry: CollectorRegistry

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def router(tmp_path: Path) -> Iterator[Router]:
    settings = RouterSettings(
        router_app_id="handoff-router-unit",
        router_data_dir=tmp_path / "router",
        kafka_bootstrap="127.0.0.1:1",
    )
    rules = read_rules(REPO_ROOT / "deploy" / "config" / "rules.yaml")
    registry = CollectorRegistry()
    app = build_app(settings, rules, registry=registry, clock=lambda: ROUTED_AT)
    producer = FakeProducer()
    app.producer = producer  # type: ignore[assignment]
    yield Router(app=app, agent=app.agents[AGENT_NAME], producer=producer, registry=registry)
    _close_unstarted_consumer(app)


def _close_unstarted_consumer(app: Any) -> None:
    """The stream builds faust's aiokafka consumer (never started in these tests),
    whose consumer thread opens an event loop it would only close when run."""
    consumer = app._consumer
    thread = getattr(consumer, "_thread", None) if consumer is not None else None
    if thread is not None and not thread.thread_loop.is_running():
        thread.thread_loop.close()
