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

from schemas import topics
from services.router.app import (
    ACCOUNT_AGENT_NAME,
    AGENT_NAME,
    CLOCK_AGENT_NAME,
    GROUP_AGENT_NAME,
    RUSH_AGENT_NAME,
    build_app,
    router_of,
)
from services.router.settings import RouterSettings
from services.rules.rules_file import read_routing_rules

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


@dataclass
class Now:
    """A clock the test moves."""

    value: datetime = ROUTED_AT

    def __call__(self) -> datetime:
        return self.value


# Which agent consumes each internal topic, so a test can pump messages through.
APP_ID = "handoff-router-unit"
INTERNAL_AGENTS = {
    topics.router_topic(APP_ID, topics.ROUTER_GROUPS): GROUP_AGENT_NAME,
    topics.router_topic(APP_ID, topics.ROUTER_CLOCKS): CLOCK_AGENT_NAME,
    topics.router_topic(APP_ID, topics.ROUTER_ACCOUNTS): ACCOUNT_AGENT_NAME,
    topics.router_topic(APP_ID, topics.ROUTER_CAPACITY): RUSH_AGENT_NAME,
}


@dataclass
class Router:
    app: Any
    agent: Any
    producer: FakeProducer
    registry: CollectorRegistry
    now: Now
    pumped: int = 0
    outcomes: list[tuple[str, str]] = field(default_factory=list)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    async def feed(self, agent_name: str, key: bytes | None, value: bytes | None) -> str:
        """One message through one agent; its outcome."""
        async with self.app.agents[agent_name].test_context() as agent:
            await agent.put(key=key, value=value)
            outcome: str = agent.results[0]
        self.outcomes.append((agent_name, outcome))
        return outcome

    async def pump(self) -> None:
        """Deliver every message sent to an internal topic to its agent, until none is left."""
        while self.pumped < len(self.producer.sent):
            sent = self.producer.sent[self.pumped]
            self.pumped += 1
            if sent.topic in INTERNAL_AGENTS:
                await self.feed(INTERNAL_AGENTS[sent.topic], sent.key, sent.value)

    async def route(self, agent_name: str, key: bytes, value: bytes | None) -> str:
        """An incoming event through its route agent and everything it caused."""
        outcome = await self.feed(agent_name, key, value)
        await self.pump()
        return outcome

    async def tick(self) -> None:
        """One run of the SLA timer, and what it caused."""
        await router_of(self.app).signal_due_sla_events()
        await self.pump()


def make_router(tmp_path: Path, rules_path: Path) -> Router:
    settings = RouterSettings(
        router_app_id=APP_ID,
        router_data_dir=tmp_path / "router",
        kafka_bootstrap="127.0.0.1:1",
    )
    registry, now = CollectorRegistry(), Now()
    app = build_app(settings, read_routing_rules(rules_path), registry=registry, clock=now)
    producer = FakeProducer()
    app.producer = producer  # type: ignore[assignment]
    return Router(app, app.agents[AGENT_NAME], producer, registry, now)


@pytest.fixture
def router(tmp_path: Path) -> Iterator[Router]:
    made = make_router(tmp_path, REPO_ROOT / "deploy" / "config" / "routing.yaml")
    yield made
    _close_unstarted_consumer(made.app)


def _close_unstarted_consumer(app: Any) -> None:
    """The stream builds faust's aiokafka consumer (never started in these tests),
    whose consumer thread opens an event loop it would only close when run."""
    consumer = app._consumer
    thread = getattr(consumer, "_thread", None) if consumer is not None else None
    if thread is not None and not thread.thread_loop.is_running():
        thread.thread_loop.close()
