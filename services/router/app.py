"""The router's Faust app: events in, routed tasks, SLA signals and answers out.

The only module that imports faust: the app, its topics and tables, the
agents, the SLA timer, the pages and the worker. Agents are verbs over named
topics; each hands its events to one handler (``services.router.handlers``:
decode, call the core, return the sends), through ``pipeline`` (perform them,
park what fails on ``handoff.dlq`` with the reason), ``batch`` and ``sender``.
A consumed event is acknowledged only once every send it caused was
acknowledged by the broker (manual acks), so nothing is lost.

::

  ingest.support ─┐ route_support_ticket ┐  (key: account; ticket updates ─▶ routed;
                 │                      │   table accounts_to_requests: a request that
                 │                      │   comes again goes to its first groups only)
  ingest.sales ───┘ route_sales_note ────┴─▶ <app>-groups (key: group key)
                                          └▶ <app>-capacity (one key: rush orders, lost deals)
  ingest.capacity ─ track_line_capacity ─▶ <app>-capacity; the timer: expire_holds
  <app>-capacity ─ check_rush_order (table lines_to_capacity: the whole book)
        ─▶ feedback + routed (held, or refused) | <app>-groups (planning) | routed (released)
  <app>-groups ─ group_routed_decision (table group_keys_to_tasks)
        ─▶ routed + team.<team>, <app>-clocks (start), <app>-accounts (add)
  <app>-accounts ─ track_account_tasks (table accounts_to_open_tasks; linked ones mirror)
  accounts ─ relay_account_aliases ─▶ <app>-accounts (the API's alias map: account_links)
  feedback ─ stop_sla_clocks ─▶ <app>-clocks (stop, reassign)
  <app>-clocks ─ track_sla_clock (table task_ids_to_clocks), and a 1 s timer
        ─▶ sla (at_risk / breached), team.<escalate_to>, <app>-groups (close)
        ─▶ on reassign: routed + team.<new team>, <app>-groups and
           <app>-accounts (the task's new team); the clocks follow the policy

The ``<app>-*`` topics belong to one app id (as Faust's changelogs do): two
router deployments on one cluster never read each other's decisions.

Events that wait are handled as one batch (up to ``BATCH_MAX``, see
``services.router.batch``); only once its sends were acknowledged and its
table writes applied are its events acknowledged. A crash before that
re-handles them, re-sending the same ids.

Every topic has the same number of partitions and every key is hashed the
same way, so Faust assigns partition N of every topic and of every table's
changelog to one worker: a table is only written by agents whose stream is
keyed by the table's key, and read (``accounts_to_open_tasks`` by the route
agents) where the key lives. Standby replicas are off and the store is in
memory, so a worker's tables hold only the partitions it actively owns: the
SLA timer walks its own clocks only.

The rule set is held in a ``RulesHolder``; a ``RulesFeed`` (kafka-python,
outside Faust) follows the compacted ``handoff.rules`` topic and swaps it, so
the next event is routed by the new version with no restart.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar, cast

import faust
from aiokafka.errors import KafkaError
from faust.exceptions import PartitionsMismatch, ProducerSendError
from faust.streams import _current_event as _faust_current_event  # tables write by it
from faust.types import EventT, StreamT, TopicT
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from schemas import topics
from services.core.errors import HandoffError
from services.core.routing import RoutingRules
from services.kafka_admin import ensure_router_topics, unmatched_partitions
from services.router.batch import BatchedTable
from services.router.consuming import handled, install, taken
from services.router.handlers.accounts import AccountHandlers
from services.router.handlers.base import Context, Names, Tables
from services.router.handlers.capacity import CapacityHandlers
from services.router.handlers.clocks import ClockHandlers
from services.router.handlers.grouping import GroupingHandlers
from services.router.handlers.intake import IntakeHandlers
from services.router.inbound import SERVICE
from services.router.metrics import RouterMetrics
from services.router.offsets import EARLIEST, start_position
from services.router.pipeline import Handler, Pipeline
from services.router.seeking import InOrder
from services.router.sender import Sender
from services.router.settings import RouterSettings
from services.router.timer import SlaTimer
from services.rules.rules_feed import RulesFeed, RulesHolder, initial_rules

log = logging.getLogger(__name__)

AGENT_NAME: Final = "route_support_ticket"
SALES_AGENT_NAME: Final = "route_sales_note"
GROUP_AGENT_NAME: Final = "group_routed_decision"
CLOCK_AGENT_NAME: Final = "track_sla_clock"
FEEDBACK_AGENT_NAME: Final = "stop_sla_clocks"
ACCOUNT_AGENT_NAME: Final = "track_account_tasks"
ALIAS_AGENT_NAME: Final = "relay_account_aliases"
CAPACITY_AGENT_NAME: Final = "track_line_capacity"
RUSH_AGENT_NAME: Final = "check_rush_order"
GROUPS_TABLE: Final = "group_keys_to_tasks"
CLOCKS_TABLE: Final = "task_ids_to_clocks"
ACCOUNTS_TABLE: Final = "accounts_to_open_tasks"
LINES_TABLE: Final = "lines_to_capacity"
REQUESTS_TABLE: Final = "accounts_to_requests"  # the groups each recent request went to
SLA_TIMER_INTERVAL: Final = 1.0
BATCH_MAX: Final = 200  # events handled together when they are waiting
_SEND_ERRORS: Final = (KafkaError, ProducerSendError, asyncio.TimeoutError, OSError)
_FAUST_LOGLEVELS: Final = {
    "crit": "CRITICAL",
    "error": "ERROR",
    "warn": "WARNING",
    "info": "INFO",
    "debug": "DEBUG",
}

Clock = Callable[[], datetime]
_TIMERS: weakref.WeakKeyDictionary[faust.App, SlaTimer] = weakref.WeakKeyDictionary()
_T = TypeVar("_T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_app(
    settings: RouterSettings,
    rules: RoutingRules | RulesHolder,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock = utc_now,
    metrics: RouterMetrics | None = None,
) -> faust.App:
    """A router app for these rules; metrics go to ``registry`` (a fresh one if None)."""
    registry = registry if registry is not None else CollectorRegistry()
    holder = rules if isinstance(rules, RulesHolder) else RulesHolder(rules)
    metrics = metrics if metrics is not None else RouterMetrics(registry)
    metrics.know_teams(holder.current.teams)
    app = _faust_app(settings)
    names, topic = Names(settings.router_app_id), _topics(app)
    context = Context(names, _tables(app), holder, metrics, clock)
    sender = Sender(topic, _SEND_ERRORS, metrics.send_retries, clock)
    pipeline = Pipeline(sender, metrics, _retrying_metadata, _apply_in_event)
    window = timedelta(seconds=settings.router_reopen_window_s)
    capacity = CapacityHandlers(context)
    timer = SlaTimer(context.tables.clocks, names, sender, metrics, clock, window)
    timer.on_tick = capacity.expiry_sends  # expired holds are released by the timer
    _TIMERS[app] = timer

    streams: set[str] = set()
    order = InOrder(streams)  # each partition's records in order, to its agent (``seeking``)

    def agent(name: str, topic_name: str, handler: Handler) -> None:
        app.agent(topic(topic_name), name=name)(_batched(pipeline, handler, order))
        streams.add(topic_name)

    intake, grouping = IntakeHandlers(context), GroupingHandlers(context)
    clocks = ClockHandlers(context, timer.reset)
    agent(AGENT_NAME, topics.INGEST_SUPPORT, intake.route_support_ticket)
    agent(SALES_AGENT_NAME, topics.INGEST_SALES, intake.route_sales_note)
    agent(GROUP_AGENT_NAME, names.groups, grouping.group_routed_decision)
    agent(CLOCK_AGENT_NAME, names.clocks, clocks.track_sla_clock)
    agent(FEEDBACK_AGENT_NAME, topics.FEEDBACK, clocks.stop_sla_clocks)
    agent(ACCOUNT_AGENT_NAME, names.accounts, AccountHandlers(context).track_account_tasks)
    agent(ALIAS_AGENT_NAME, topics.ACCOUNTS, AccountHandlers(context).relay_alias)
    agent(CAPACITY_AGENT_NAME, topics.INGEST_CAPACITY, capacity.track_line_capacity)
    agent(RUSH_AGENT_NAME, names.capacity, capacity.check_rush_order)

    @app.timer(SLA_TIMER_INTERVAL)  # type: ignore[untyped-decorator]
    async def signal_due_sla_events() -> None:
        if not app.rebalancing:
            await timer.signal_due_sla_events()

    _pages(app, settings, holder, registry)
    install(app.consumer, streams, order)  # sought fully, read in order, committed if handled
    return app


def router_of(app: faust.App) -> SlaTimer:
    """The SLA timer of an app built by ``build_app`` (tests drive it directly)."""
    return _TIMERS[app]


def _faust_app(settings: RouterSettings) -> faust.App:
    return faust.App(
        settings.router_app_id,
        broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
        store="memory://",
        datadir=str(settings.router_data_dir),
        topic_partitions=settings.topic_partitions,
        table_standby_replicas=0,
        producer_acks=-1,
        consumer_auto_offset_reset=EARLIEST,  # raw inputs follow the setting: offsets.py
        broker_session_timeout=settings.router_session_timeout_s,
        broker_heartbeat_interval=settings.router_heartbeat_interval_s,
        web_enabled=True,
        web_bind=settings.router_web_host,
        web_host=settings.router_web_host,
        web_port=settings.router_web_port,
        autodiscover=False,
    )


def _topics(app: faust.App) -> Callable[[str], TopicT]:
    """Keys and values stay bytes: the router decodes them itself, to dead-letter what fails."""
    made: dict[str, TopicT] = {}

    def topic(name: str) -> TopicT:
        if name not in made:
            made[name] = app.topic(name, key_serializer="raw", value_serializer="raw")
        return made[name]

    return topic


def _tables(app: faust.App) -> Tables:
    def table(name: str) -> BatchedTable:
        return BatchedTable(app.Table(name, key_type=str, value_type=str))

    return Tables(
        table(GROUPS_TABLE),
        table(CLOCKS_TABLE),
        table(ACCOUNTS_TABLE),
        table(LINES_TABLE),
        table(REQUESTS_TABLE),
    )


def _batched(
    pipeline: Pipeline, handler: Handler, order: InOrder
) -> Callable[[StreamT[Any]], AsyncIterator[str]]:
    """An agent that handles the events waiting as one batch, acknowledging them after it."""

    async def run(stream: StreamT[Any]) -> AsyncIterator[str]:
        # manual acks: an event's offset is committable once all it produced was acked
        manual: StreamT[Any] = cast(faust.Stream[Any], stream).noack()
        waiting: asyncio.Queue[EventT[Any]] = asyncio.Queue(maxsize=BATCH_MAX)

        async def read() -> None:
            consumer = stream.app.consumer
            async for event in manual.events():
                if taken(consumer, order, event.message):  # else: it comes again, in order
                    await waiting.put(event)

        reader = asyncio.ensure_future(read())
        try:
            while (first := await _next_or_raise(waiting, reader)) is not None:
                events = [first]
                while len(events) < BATCH_MAX and not waiting.empty():
                    events.append(waiting.get_nowait())
                outcomes = await pipeline.handle_batch(events, handler)
                with handled():  # only these acknowledgements count (``consuming``)
                    for event in events:
                        await manual.ack(event)
                for outcome in outcomes:
                    yield outcome  # lets tests (agent.test_context) wait for outcomes
        finally:
            reader.cancel()

    return run


def _pages(
    app: faust.App, settings: RouterSettings, holder: RulesHolder, registry: CollectorRegistry
) -> None:
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
            "rules_version": holder.current.version,
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
        return self.json(body := status(), status=200 if body["ready"] else 503)


async def _retrying_metadata(attempt: Callable[[], Awaitable[_T]], where: str) -> _T:
    """A table whose changelog the worker's metadata does not know yet is not the
    message's fault: wait and try again (resends carry the same ids)."""
    backoff = 0.5
    while True:
        try:
            return await attempt()
        except PartitionsMismatch as exc:
            log.warning("%s: %s; retrying in %.1fs", where, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)


async def _apply_in_event(table: BatchedTable, key: str, value: str | None, event: Any) -> None:
    """A table write under the event that made it: to its changelog partition."""
    token = _faust_current_event.set(weakref.ref(event))
    try:
        where = f"{event.message.topic}[{event.message.partition}]@{event.message.offset}"
        await _retrying_metadata(lambda: table.apply(key, value), where)
    finally:
        _faust_current_event.reset(token)


async def _next_or_raise(
    waiting: asyncio.Queue[EventT[Any]], reader: asyncio.Future[None]
) -> EventT[Any] | None:
    """The next event; None once the stream ended (the worker stops: what is still queued is
    not acknowledged, so it is read again); the reader's error if it failed."""
    if not waiting.empty():
        return waiting.get_nowait()
    getting: asyncio.Future[Any] = asyncio.ensure_future(waiting.get())
    try:
        watched: set[asyncio.Future[Any]] = {getting, reader}
        done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    finally:  # stopped while waiting: the getter must not take an event no one handles
        if not getting.done():
            getting.cancel()
    if getting in done:
        return cast(EventT[Any], getting.result())
    reader.result()  # raises what stopped it, if anything did
    return None


def run_worker(settings: RouterSettings) -> None:
    """Read the rules, create the topics, run a Faust worker until SIGTERM/SIGINT."""
    try:
        rules = initial_rules(
            settings.router_rules_file, settings.kafka_bootstrap, key=settings.router_rules_key
        )
    except HandoffError as exc:
        sys.exit(f"router: cannot start: {exc}")
    settings.router_data_dir.mkdir(parents=True, exist_ok=True)
    holder = RulesHolder(rules)
    metrics = RouterMetrics(REGISTRY)
    metrics.watch_consumer_lag(settings.kafka_bootstrap, [settings.router_app_id])
    metrics.rules_in_force(rules.version)
    app = build_app(settings, holder, registry=REGISTRY, metrics=metrics)
    changelogs = [table.changelog_topic.get_topic_name() for table in app.tables.values()]
    _ensure_topics(settings, rules.teams, changelogs)
    sources = sorted({name for agent in app.agents.values() for name in agent.channel.topics})
    if wrong := unmatched_partitions(
        settings.kafka_bootstrap, [*sources, *changelogs], settings.topic_partitions
    ):
        sys.exit(f"router: cannot start: {wrong}")
    start_position(settings.router_offset_reset, settings.kafka_bootstrap, settings.router_app_id)
    feed = _rules_feed(settings, holder, metrics)
    feed.start()
    log.info("router %s: rules version %s", settings.router_app_id, rules.version)
    worker = faust.Worker(app, loglevel=_FAUST_LOGLEVELS[settings.router_log_level])
    try:
        worker.execute_from_commandline()
    finally:
        feed.stop()


def _ensure_topics(
    settings: RouterSettings, teams: Iterable[str], changelogs: Sequence[str] = ()
) -> None:
    """The topics this app reads and writes: its own, its tables' changelogs, each team's."""
    ensure_router_topics(
        settings.kafka_bootstrap,
        teams,
        settings.topic_partitions,
        settings.router_app_id,
        changelogs=changelogs,
    )


def _rules_feed(settings: RouterSettings, holder: RulesHolder, metrics: RouterMetrics) -> RulesFeed:
    """Follows ``handoff.rules``: swaps the holder's rules, creates new teams' topics."""
    return RulesFeed(
        settings.kafka_bootstrap,
        holder,
        key=settings.router_rules_key,
        on_new_teams=lambda teams: _ensure_topics(settings, teams),
        on_outcome=lambda outcome: _reloaded(outcome, holder, metrics),
    )


def _reloaded(outcome: str, holder: RulesHolder, metrics: RouterMetrics) -> None:
    """Count a reload's outcome; the version in force is what the holder now holds."""
    metrics.rules_reloads.labels(outcome).inc()
    metrics.rules_in_force(holder.current.version)
