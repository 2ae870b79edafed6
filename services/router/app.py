"""The router's Faust app: ``support.ticket`` in, ``task.routed`` out.

The only module that imports faust. One agent, ``route_support_ticket``, over
``handoff.ingest.support``: decode (``codec``), call the core's
``RuleSet.route``, encode, send to ``handoff.routed`` and the team's topic,
and wait until the broker acknowledged both before the source offset is
acknowledged. What cannot be read goes to ``handoff.dlq`` with the reason.

Idempotency: the table ``event_ids_to_task_ids`` remembers every routed event
id. Faust writes a table change to the changelog partition of the *event being
processed* (not a hash of the table key), and recovers changelog partition N
on the worker that owns source partition N. A redelivered or re-posted ticket
has the same id and the same Kafka key (its account), so it arrives on the same
source partition as the first copy and finds the entry on that worker - the
table is keyed by the bare event id and stays consistent with the stream's
partitioning without re-keying.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast

import faust
from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError
from faust.types import EventT, StreamT, TopicT
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from schemas import topics
from schemas.dlq import DeadLetter
from services.core.errors import RuleError
from services.core.rules import RuleSet
from services.kafka_admin import ensure_handoff_topics
from services.router import metrics as outcomes
from services.router.codec import (
    SERVICE,
    PoisonMessageError,
    decode_ticket,
    routed_event,
    task_id_for,
)
from services.router.metrics import RouterMetrics
from services.router.rules_file import read_rules
from services.router.settings import RouterSettings

log = logging.getLogger(__name__)

AGENT_NAME: Final = "route_support_ticket"
TABLE_NAME: Final = "event_ids_to_task_ids"
_SEND_ERRORS: Final = (KafkaError, ProducerSendError, asyncio.TimeoutError, OSError)
_FAUST_LOGLEVELS: Final = {
    "crit": "CRITICAL",
    "error": "ERROR",
    "warn": "WARNING",
    "info": "INFO",
    "debug": "DEBUG",
}

Clock = Callable[[], datetime]
Outcome = Literal["routed", "duplicate", "dead_lettered"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_app(
    settings: RouterSettings,
    rules: RuleSet,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock = utc_now,
) -> faust.App:
    """A router app for these rules; metrics go to ``registry`` (a fresh one if None)."""
    registry = registry if registry is not None else CollectorRegistry()
    metrics = RouterMetrics(registry)
    metrics.know_teams(rules.teams)
    app = faust.App(
        settings.router_app_id,
        broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
        store="memory://",
        datadir=str(settings.router_data_dir),
        topic_partitions=settings.topic_partitions,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_bind=settings.router_web_host,
        web_host=settings.router_web_host,
        web_port=settings.router_web_port,
        autodiscover=False,
    )
    router = _TicketRouter(
        rules=rules,
        metrics=metrics,
        clock=clock,
        routed_topic=_raw_topic(app, topics.ROUTED),
        team_topics={t: _raw_topic(app, topics.team_topic(t)) for t in sorted(rules.teams)},
        dlq_topic=_raw_topic(app, topics.DLQ),
        routed_ids=app.Table(TABLE_NAME, key_type=str, value_type=str),
    )

    @app.agent(_raw_topic(app, topics.INGEST_SUPPORT), name=AGENT_NAME)
    async def route_support_ticket(stream: StreamT[Any]) -> AsyncIterator[Outcome]:
        # Acks are manual: an event is acknowledged (its offset committable)
        # only once everything it produced was acknowledged by the broker.
        manual: StreamT[Any] = cast(faust.Stream[Any], stream).noack()
        async for event in manual.events():
            outcome = await router.handle(event)
            await manual.ack(event)
            yield outcome  # lets tests (agent.test_context) wait for the outcome

    @app.page("/metrics")
    async def prometheus_metrics(self: View, request: Request) -> Response:
        return self.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    def status() -> dict[str, Any]:
        recovered = cast(Any, app.tables).recovery.completed.is_set()
        assigned = [tp for tp in app.consumer.assignment() if tp.topic == topics.INGEST_SUPPORT]
        return {
            "status": "ok",
            "service": SERVICE,
            "app_id": settings.router_app_id,
            "rules_version": rules.version,
            "assigned_partitions": sorted(tp.partition for tp in assigned),
            "ready": recovered and not app.rebalancing,
        }

    @app.page("/healthz")
    async def healthz(self: View, request: Request) -> Response:
        """Liveness: the worker runs (200), with its rule version and assignment."""
        return self.json(status())

    @app.page("/readyz")
    async def readyz(self: View, request: Request) -> Response:
        """Readiness: 200 once partitions are assigned and tables recovered, else 503."""
        body = status()
        return self.json(body, status=200 if body["ready"] else 503)

    return app


class _TicketRouter:
    """What the agent does with one event; never raises for a bad message."""

    def __init__(
        self,
        *,
        rules: RuleSet,
        metrics: RouterMetrics,
        clock: Clock,
        routed_topic: TopicT,
        team_topics: Mapping[str, TopicT],
        dlq_topic: TopicT,
        routed_ids: MutableMapping[str, str],
    ) -> None:
        self.rules = rules
        self.metrics = metrics
        self.clock = clock
        self.routed_topic = routed_topic
        self.team_topics = team_topics
        self.dlq_topic = dlq_topic
        self.routed_ids = routed_ids

    async def handle(self, event: EventT[Any]) -> Outcome:
        started = time.perf_counter()
        try:
            outcome = await self._route(event.value)
        except PoisonMessageError as exc:
            outcome = await self._dead_letter(event, exc.reason, exc.error_type)
        except Exception as exc:  # a bug must park the message, not stop the partition
            log.exception("unexpected error routing %s", _where(event))
            outcome = await self._dead_letter(
                event, f"unexpected error in the router: {exc!r}", type(exc).__name__
            )
        self.metrics.events.labels(outcome).inc()
        self.metrics.processing.observe(time.perf_counter() - started)
        return outcome

    async def _route(self, value: bytes | None) -> Outcome:
        incoming = decode_ticket(value)
        event_id = incoming.event.id
        if self.routed_ids.get(event_id) is not None:
            log.debug("duplicate event %s: already routed, not emitted again", event_id)
            return outcomes.DUPLICATE
        ticket = incoming.ticket
        route = self.rules.route(
            component=ticket.component,
            priority=ticket.priority.value,
            raised_at=incoming.event.time,
        )
        routed = routed_event(incoming, route, routed_at=self.clock())
        key, body = incoming.account.encode("utf-8"), routed.to_bytes()
        await self._send_acked(
            [(self.routed_topic, key, body), (self.team_topics[route.team], key, body)]
        )
        # Only after both acks: a crash before this line re-emits the same ids.
        self.routed_ids[event_id] = task_id_for(event_id)
        self.metrics.routed.labels(route.team).inc()
        latency = (self.clock() - incoming.event.time).total_seconds()
        self.metrics.route_latency.observe(max(latency, 0.0))
        return outcomes.ROUTED

    async def _dead_letter(self, event: EventT[Any], reason: str, error_type: str) -> Outcome:
        message = event.message
        log.warning("dead-lettering %s: %s", _where(event), reason)
        letter = DeadLetter.from_raw(
            reason=reason,
            error_type=error_type,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=_as_bytes(event.key),
            value=_as_bytes(event.value),
            service=SERVICE,
            at=self.clock(),
        )
        await self._send_acked([(self.dlq_topic, _as_bytes(event.key), letter.to_bytes())])
        return outcomes.DEAD_LETTERED

    async def _send_acked(self, sends: Sequence[tuple[TopicT, bytes | None, bytes]]) -> None:
        """Send all, wait for every ack; retry what failed until it is acknowledged.

        The event is held (not acknowledged, not committed) meanwhile, so a
        broker outage stalls the partition instead of losing the message.
        Resending is harmless: the ids are derived from the source event.
        """
        pending = list(sends)
        backoff = 0.5
        while True:
            results = await asyncio.gather(
                *(self._send_one(topic, key, value) for topic, key, value in pending),
                return_exceptions=True,
            )
            failed = []
            for send, result in zip(pending, results, strict=True):
                if isinstance(result, BaseException):
                    if not isinstance(result, _SEND_ERRORS):
                        raise result
                    failed.append((send, result))
            if not failed:
                return
            for (topic, _, _), error in failed:
                log.warning(
                    "send to %s not acknowledged (%r); retrying in %.1fs",
                    topic.get_topic_name(),
                    error,
                    backoff,
                )
            self.metrics.send_retries.inc(len(failed))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
            pending = [send for send, _ in failed]

    async def _send_one(self, topic: TopicT, key: bytes | None, value: bytes) -> None:
        acked = await topic.send(key=key, value=value)
        await acked


def _raw_topic(app: faust.App, name: str) -> TopicT:
    """Keys and values stay bytes: the router decodes them itself, to dead-letter what fails."""
    return app.topic(name, key_serializer="raw", value_serializer="raw")


def _as_bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def _where(event: EventT[Any]) -> str:
    message = event.message
    return f"{message.topic}[{message.partition}]@{message.offset}"


def run_worker(settings: RouterSettings) -> None:
    """Read the rules, create the topics, run a Faust worker until SIGTERM/SIGINT."""
    try:
        rules = read_rules(settings.router_rules_file)
    except RuleError as exc:
        sys.exit(f"router: cannot start: {exc}")
    ensure_handoff_topics(settings.kafka_bootstrap, rules.teams, settings.topic_partitions)
    settings.router_data_dir.mkdir(parents=True, exist_ok=True)
    app = build_app(settings, rules, registry=REGISTRY)
    log.info("router %s: rules version %s", settings.router_app_id, rules.version)
    worker = faust.Worker(app, loglevel=_FAUST_LOGLEVELS[settings.router_log_level])
    worker.execute_from_commandline()
