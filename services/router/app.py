"""The router's Faust app: events in, routed tasks, SLA signals and answers out.

The only module that imports faust. Agents are verbs over named topics;
each decodes (``codec``), calls the core, encodes and sends, and a consumed
event is acknowledged only once every send it caused was acknowledged by the
broker (manual acks), so nothing is lost; what cannot be read goes to
``handoff.dlq`` with the reason.

::

  ingest.support ─┐ route_support_ticket ┐  (key: account; ticket updates ─▶ routed)
  ingest.sales ───┘ route_sales_note ────┴─▶ <app>-groups (key: group key)
                                          └▶ <app>-capacity (key: line, rush orders)
  <app>-capacity + ingest.capacity ─ check_rush_order / track_line_capacity
        (table lines_to_capacity)  ─▶ feedback (feasible) | <app>-groups (not)
  <app>-groups ─ group_routed_decision (table group_keys_to_tasks)
        ─▶ routed + team.<team>, <app>-clocks (start), <app>-accounts (add)
  <app>-accounts ─ track_account_tasks (table accounts_to_open_tasks)
  feedback ─ stop_sla_clocks ─▶ <app>-clocks (stop, reassign)
  <app>-clocks ─ track_sla_clock (table task_ids_to_clocks), and a 1 s timer
        ─▶ sla (at_risk / breached), team.<escalate_to>, <app>-groups (close)
        ─▶ on reassign: routed + team.<new team>, <app>-groups and
           <app>-accounts (the task's new team); the clocks follow the policy

The ``<app>-*`` topics belong to one app id (as Faust's changelogs do): two
router deployments on one cluster never read each other's decisions.

Events that wait are handled as one batch (up to ``BATCH_MAX``): in order,
each seeing the table writes of those before it, while their sends are
collected; the batch's sends are then made and acknowledged together, only
then are its table writes applied, and only then are its events
acknowledged. A crash before that re-handles them, re-sending the same ids.

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
import functools
import json
import logging
import sys
import time
import weakref
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    MutableMapping,
    Sequence,
)
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, TypeVar, cast

import faust
from aiokafka.errors import KafkaError
from faust.exceptions import PartitionsMismatch, ProducerSendError
from faust.streams import _current_event as _faust_current_event  # tables write by it
from faust.types import EventT, StreamT, TopicT
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from schemas import topics
from schemas.dlq import DeadLetter
from schemas.events import (
    SALES_NOTE,
    SLA_BREACHED,
    STOPS_ACKNOWLEDGE_CLOCK,
    STOPS_ALL_CLOCKS,
    SUPPORT_TICKET,
    SUPPORT_TICKET_UPDATED,
    TASK_REASSIGNED,
    TASK_REJECTED,
    TASK_REOPENED,
    TASK_ROUTED,
    RelatedTask,
    derived_id,
)
from services.core import capacity as lines
from services.core.errors import HandoffError
from services.core.grouping import AccountIndex, GroupedTask, GroupEvent, Outcome, admit
from services.core.routing import RoutingRules
from services.core.sla import SlaClocks
from services.kafka_admin import ensure_router_topics
from services.router import metrics as outcomes
from services.router.codec import (
    SERVICE,
    DecisionMessage,
    Incoming,
    OpenClock,
    PoisonMessageError,
    answered_task,
    check_ticket_update,
    clock_emitted,
    clock_reassign,
    clock_reopen,
    clock_start,
    clock_stop,
    close_message,
    decision_messages,
    decode_capacity,
    decode_cloud_event,
    decode_decision,
    decode_incoming,
    encode_decision,
    escalated_event,
    feasible_answer,
    group_reassign_message,
    incoming_of,
    load,
    rerouted_event,
    routed_event,
    sla_event,
    with_feasibility,
)
from services.router.metrics import RouterMetrics
from services.router.rules_feed import RulesFeed, RulesHolder, initial_rules
from services.router.settings import RouterSettings

log = logging.getLogger(__name__)

AGENT_NAME: Final = "route_support_ticket"
SALES_AGENT_NAME: Final = "route_sales_note"
GROUP_AGENT_NAME: Final = "group_routed_decision"
CLOCK_AGENT_NAME: Final = "track_sla_clock"
FEEDBACK_AGENT_NAME: Final = "stop_sla_clocks"
ACCOUNT_AGENT_NAME: Final = "track_account_tasks"
CAPACITY_AGENT_NAME: Final = "track_line_capacity"
RUSH_AGENT_NAME: Final = "check_rush_order"
GROUPS_TABLE: Final = "group_keys_to_tasks"
CLOCKS_TABLE: Final = "task_ids_to_clocks"
ACCOUNTS_TABLE: Final = "accounts_to_open_tasks"
LINES_TABLE: Final = "lines_to_capacity"
SLA_TIMER_INTERVAL: Final = 1.0
BATCH_MAX: Final = 200  # events handled together when they are waiting
RELATED_MAX: Final = 20  # an account's open tasks a task.routed names
_EARLY_STOP: Final = "stopped-before-start:"
EARLY_STOP_KEPT: Final = timedelta(minutes=10)  # how long a stop waits for its task's start
_ROUTES_AGAIN: Final = frozenset({TASK_REASSIGNED, TASK_REOPENED})
_SEND_ERRORS: Final = (KafkaError, ProducerSendError, asyncio.TimeoutError, OSError)
_FAUST_LOGLEVELS: Final = {
    "crit": "CRITICAL",
    "error": "ERROR",
    "warn": "WARNING",
    "info": "INFO",
    "debug": "DEBUG",
}

Clock = Callable[[], datetime]
_ROUTERS: weakref.WeakKeyDictionary[faust.App, _Router] = weakref.WeakKeyDictionary()
Send = tuple[TopicT, bytes | None, bytes]
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
    app = faust.App(
        settings.router_app_id,
        broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
        store="memory://",
        datadir=str(settings.router_data_dir),
        topic_partitions=settings.topic_partitions,
        table_standby_replicas=0,
        producer_acks=-1,
        consumer_auto_offset_reset=settings.router_offset_reset,
        web_enabled=True,
        web_bind=settings.router_web_host,
        web_host=settings.router_web_host,
        web_port=settings.router_web_port,
        autodiscover=False,
    )
    window = timedelta(seconds=settings.router_reopen_window_s)
    router = _Router(app, holder, metrics, clock, window)
    _ROUTERS[app] = router

    def agent(name: str, topic: str, handle: Callable[[EventT[Any]], Awaitable[str]]) -> None:
        async def run(stream: StreamT[Any]) -> AsyncIterator[str]:
            # Acks are manual: an event is acknowledged (its offset committable)
            # only once everything it produced was acknowledged by the broker.
            # Events waiting are handled as one batch: their sends are acknowledged
            # together, which is most of the cost of an event.
            manual: StreamT[Any] = cast(faust.Stream[Any], stream).noack()
            waiting: asyncio.Queue[EventT[Any]] = asyncio.Queue(maxsize=BATCH_MAX)

            async def read() -> None:
                async for event in manual.events():
                    await waiting.put(event)

            reader = asyncio.ensure_future(read())
            try:
                while (first := await _next_or_raise(waiting, reader)) is not None:
                    events = [first]
                    while len(events) < BATCH_MAX and not waiting.empty():
                        events.append(waiting.get_nowait())
                    outcomes = await router.handle_batch(events, handle)
                    for event in events:
                        await manual.ack(event)
                    for outcome in outcomes:
                        yield outcome  # lets tests (agent.test_context) wait for outcomes
            finally:
                reader.cancel()

        app.agent(router.topic(topic), name=name)(run)

    agent(AGENT_NAME, topics.INGEST_SUPPORT, router.route_support_ticket)
    agent(SALES_AGENT_NAME, topics.INGEST_SALES, router.route_sales_note)
    agent(
        GROUP_AGENT_NAME, router.internal_name(topics.ROUTER_GROUPS), router.group_routed_decision
    )
    agent(CLOCK_AGENT_NAME, router.internal_name(topics.ROUTER_CLOCKS), router.track_sla_clock)
    agent(FEEDBACK_AGENT_NAME, topics.FEEDBACK, router.stop_sla_clocks)
    agent(
        ACCOUNT_AGENT_NAME, router.internal_name(topics.ROUTER_ACCOUNTS), router.track_account_tasks
    )
    agent(CAPACITY_AGENT_NAME, topics.INGEST_CAPACITY, router.track_line_capacity)
    agent(RUSH_AGENT_NAME, router.internal_name(topics.ROUTER_CAPACITY), router.check_rush_order)

    @app.timer(SLA_TIMER_INTERVAL)  # type: ignore[untyped-decorator]
    async def signal_due_sla_events() -> None:
        if not app.rebalancing:
            await router.signal_due_sla_events()

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
        body = status()
        return self.json(body, status=200 if body["ready"] else 503)

    return app


def router_of(app: faust.App) -> _Router:
    """The router behind an app built by ``build_app`` (tests drive its timer directly)."""
    return _ROUTERS[app]


class _Router:
    """What the agents do with one event each; ``guarded`` never raises for a bad message."""

    def __init__(
        self,
        app: faust.App,
        rules: RulesHolder,
        metrics: RouterMetrics,
        clock: Clock,
        reopen_window: timedelta,
    ) -> None:
        self.app = app
        self.rules = rules
        self.metrics = metrics
        self.clock = clock
        self.reopen_window = reopen_window  # how long a closed task's clock is kept
        self._topics: dict[str, TopicT] = {}
        self.groups = _BatchedTable(app.Table(GROUPS_TABLE, key_type=str, value_type=str))
        self.clocks = _BatchedTable(app.Table(CLOCKS_TABLE, key_type=str, value_type=str))
        self.accounts = _BatchedTable(app.Table(ACCOUNTS_TABLE, key_type=str, value_type=str))
        self.lines = _BatchedTable(app.Table(LINES_TABLE, key_type=str, value_type=str))
        # What this worker sent and its clock table does not show yet, by task; dropped
        # with the task's clock, so it holds open tasks only.
        self._signalled: dict[str, set[str]] = {}
        self._due_cache: dict[str, tuple[str, datetime | None]] = {}

    def signalled_tasks(self) -> int:
        """How many tasks this worker remembers signals for (open tasks only)."""
        return len(self._signalled)

    def internal_name(self, suffix: str) -> str:
        return topics.router_topic(self.app.conf.id, suffix)

    def internal(self, suffix: str) -> TopicT:
        """One of this app's own topics (another app id never reads them)."""
        return self.topic(self.internal_name(suffix))

    def topic(self, name: str) -> TopicT:
        """Keys and values stay bytes: the router decodes them itself, to dead-letter what fails."""
        if name not in self._topics:
            self._topics[name] = self.app.topic(name, key_serializer="raw", value_serializer="raw")
        return self._topics[name]

    async def handle_batch(
        self, events: Sequence[EventT[Any]], handle: Callable[[EventT[Any]], Awaitable[str]]
    ) -> list[str]:
        """Handle events in order as one batch: their sends go out together and, once all
        are acknowledged, their table writes are applied (a crash before re-handles them,
        re-sending the same ids)."""
        batch = _Batch()
        token = _CURRENT_BATCH.set(batch)
        try:
            outcomes = [await self.guarded(event, handle) for event in events]
        finally:
            _CURRENT_BATCH.reset(token)
        await self._send_acked(batch.sends)
        await batch.apply()
        return outcomes

    async def guarded(
        self, event: EventT[Any], handle: Callable[[EventT[Any]], Awaitable[str]]
    ) -> str:
        started = time.perf_counter()
        batch = _CURRENT_BATCH.get()
        mark = batch.mark() if batch is not None else None
        if batch is not None:
            batch.event = event
        try:
            outcome = await _retrying_metadata(functools.partial(handle, event), event)
        except PoisonMessageError as exc:
            if batch is not None and mark is not None:
                batch.undo(mark)  # nothing of a refused event goes out
            outcome = await self._dead_letter(event, exc.reason, exc.error_type)
        except Exception as exc:  # a bug must park the message, not stop the partition
            log.exception("unexpected error handling %s", _where(event))
            if batch is not None and mark is not None:
                batch.undo(mark)
            outcome = await self._dead_letter(
                event, f"unexpected error in the router: {exc!r}", type(exc).__name__
            )
        if outcome in outcomes.OUTCOMES:
            self.metrics.events.labels(outcome).inc()
        self.metrics.processing.observe(time.perf_counter() - started)
        return outcome

    # --- routing: ingest -> decisions ----------------------------------------------------

    async def route_support_ticket(self, event: EventT[Any]) -> str:
        cloud = decode_cloud_event(_as_bytes(event.value))
        if cloud.type == SUPPORT_TICKET_UPDATED:
            check_ticket_update(cloud)
            return await self._forward_update(event)
        return await self._route_incoming(incoming_of(cloud, SUPPORT_TICKET))

    async def route_sales_note(self, event: EventT[Any]) -> str:
        return await self._route_incoming(decode_incoming(_as_bytes(event.value), SALES_NOTE))

    async def _forward_update(self, event: EventT[Any]) -> str:
        """A change to a ticket already routed (a comment, a priority) is not a new request:
        it is passed on, as it came, on ``handoff.routed``, where the API finds the task its
        ticket is in by the ticket's event id."""
        value = _as_bytes(event.value)
        assert value is not None
        await self._send_acked([(self.topic(topics.ROUTED), _as_bytes(event.key), value)])
        return outcomes.FORWARDED

    async def _route_incoming(self, incoming: Incoming) -> str:
        rules = self.rules.current
        decisions = rules.decide(incoming.labels, incoming.event.time)
        index = self.accounts.get(incoming.account)
        related = _related(index, incoming.account, rules) if index else ()
        messages = decision_messages(
            incoming, decisions, rules_version=rules.version, related=related
        )
        sends: list[Send] = []
        for message in messages:
            line = _capacity_line(message)
            if line is not None:
                sends.append(
                    (self.internal(topics.ROUTER_CAPACITY), line.encode(), encode_decision(message))
                )
            else:
                key = message.decision.group_key.encode("utf-8")
                sends.append((self.internal(topics.ROUTER_GROUPS), key, encode_decision(message)))
        await self._send_acked(sends)
        return outcomes.ROUTED

    # --- grouping: decisions -> tasks ----------------------------------------------------

    async def group_routed_decision(self, event: EventT[Any]) -> str:
        body = load(_as_bytes(event.value))
        if body["kind"] in ("close", "reassign"):
            return self._change_group(_as_str(event.key), body)
        message = decode_decision(body)
        group_key = message.decision.group_key
        stored = self.groups.get(group_key)
        current = GroupedTask.from_dict(_json(stored)) if stored else None
        requester = message.text.requester_email
        admitted = admit(
            current,
            group_key,
            GroupEvent(message.event.id, message.account, requester, message.event.time),
            task_id=message.task_id,
        )
        if admitted.outcome is Outcome.DUPLICATE:
            log.debug(
                "duplicate event %s: already in task %s", message.event.id, admitted.task.task_id
            )
            return outcomes.DUPLICATE
        task = admitted.task
        now = self.clock()
        opened = admitted.outcome is Outcome.OPENED
        event_id = (
            message.routed_event_id
            if opened
            else derived_id(TASK_ROUTED, task.task_id, str(task.event_count))
        )
        routed = routed_event(message, task, routed_at=now, event_id=event_id)
        key, value = message.account.encode("utf-8"), routed.to_bytes()
        team = task.team or message.decision.team
        sends: list[Send] = [
            (self.topic(topics.ROUTED), key, value),
            (self.topic(topics.team_topic(team)), key, value),
        ]
        if opened:
            started = OpenClock(
                task_id=task.task_id,
                team=team,
                escalate_to=message.decision.escalate_to,
                key=message.account,
                clocks=message.decision.clocks or SlaClocks(None, None),
                routed=_json(routed.model_dump_json()),
            )
            sends.append(
                (self.internal(topics.ROUTER_CLOCKS), task.task_id.encode(), clock_start(started))
            )
        if admitted.new_account:
            add = {"kind": "add", "task_id": task.task_id, "team": team, "state": "open"}
            sends.append((self.internal(topics.ROUTER_ACCOUNTS), key, _dumps(add)))
        await self._send_acked(sends)
        # Only after the acks: a crash before this line re-emits the same ids.
        self.groups[group_key] = _dumps_str(task.to_dict())
        if opened:
            self.metrics.routed.labels(team).inc()
            latency = (now - message.event.time).total_seconds()
            self.metrics.route_latency.observe(max(latency, 0.0))
        return outcomes.ROUTED if opened else "joined"

    def _change_group(self, group_key: str, body: dict[str, Any]) -> str:
        """Close the group's open task, or hand it to another team (a ``close``/``reassign``)."""
        stored = self.groups.get(group_key)
        if not stored:
            return "ignored"
        task = GroupedTask.from_dict(_json(stored))
        if task.task_id != body["task_id"] or not task.is_open:
            return "ignored"  # that task is closed already, or the group has a newer one
        if body["kind"] == "reassign":
            task = task.reassign(str(body["team"]))
        else:
            state = "rejected" if body.get("state") == "rejected" else "resolved"
            task = task.close(state, datetime.fromisoformat(body["at"]))
        self.groups[group_key] = _dumps_str(task.to_dict())
        return "ignored"

    # --- account context -------------------------------------------------------------

    async def track_account_tasks(self, event: EventT[Any]) -> str:
        body = load(_as_bytes(event.value))
        account = _as_str(event.key)
        stored = self.accounts.get(account)
        index = AccountIndex.from_dict(_json(stored)) if stored else AccountIndex()
        if body["kind"] == "add":
            index = index.add(body["task_id"], account, body["team"], body.get("state", "open"))
        elif body["kind"] == "close":
            index = index.close(body["task_id"])
        elif body["kind"] == "reassign":
            index = index.reassign(body["task_id"], body["team"])
        self.accounts[account] = _dumps_str(index.to_dict())
        return "ignored"

    # --- SLA clocks ------------------------------------------------------------------

    async def stop_sla_clocks(self, event: EventT[Any]) -> str:
        """Lifecycle events on ``handoff.feedback`` stop the task's clocks."""
        try:
            cloud = decode_cloud_event(_as_bytes(event.value))
        except PoisonMessageError:
            return "ignored"  # not ours to park: the API owns handoff.feedback
        if cloud.type not in STOPS_ACKNOWLEDGE_CLOCK | STOPS_ALL_CLOCKS | _ROUTES_AGAIN:
            return "ignored"
        task_id = cloud.subject or str(cloud.data.get("task_id") or "")
        if not task_id:
            return "ignored"
        if cloud.type == TASK_REASSIGNED:
            team = str(cloud.data.get("team") or "")
            if not team:
                return "ignored"
            message = str(cloud.data.get("message") or "")
            body = clock_reassign(
                task_id, team=team, message=message, at=cloud.time, event_id=cloud.id
            )
        elif cloud.type == TASK_REOPENED:
            message = str(cloud.data.get("message") or "")
            body = clock_reopen(task_id, message=message, at=cloud.time, event_id=cloud.id)
        else:
            body = clock_stop(task_id, cloud.type, cloud.time)
        await self._send_acked([(self.internal(topics.ROUTER_CLOCKS), task_id.encode(), body)])
        return "ignored"

    async def track_sla_clock(self, event: EventT[Any]) -> str:
        body = load(_as_bytes(event.value))
        kind = body["kind"]
        if kind == "start":
            started = OpenClock.from_json(_dumps_str(body["clock"]))
            stored = self.clocks.get(started.task_id)
            if stored is None:
                self.clocks[started.task_id] = started.to_json()
            elif stored.startswith(_EARLY_STOP):  # stopped (or reassigned) before it started
                self.clocks[started.task_id] = started.to_json()
                for early in _early(stored):
                    await self.track_sla_clock_body(early)
            return "ignored"
        return await self.track_sla_clock_body(body)

    async def track_sla_clock_body(self, body: dict[str, Any]) -> str:
        kind, task_id = body["kind"], body["task_id"]
        stored = self.clocks.get(task_id)
        if stored is None or stored.startswith(_EARLY_STOP):
            if kind in ("stop", "reassign", "reopen"):  # the start may still be on its way
                kept = _early(stored) if stored is not None else []
                self.clocks[task_id] = _EARLY_STOP + _dumps_str([*kept, body])
            elif kind == "forget" and stored is not None:
                del self.clocks[task_id]
                self._signalled.pop(task_id, None)
            return "ignored"
        clock = OpenClock.from_json(stored)
        if clock.resolved:  # closed: kept only for a reopen, until the window ends
            if kind == "reopen":
                self.clocks[task_id] = (await self._reopen(clock, body)).to_json()
            elif kind == "forget":
                del self.clocks[task_id]
                self._signalled.pop(task_id, None)
            return "ignored"
        if kind == "stop":
            ends_all = body["type"] in STOPS_ALL_CLOCKS
            clock = _replace(clock, acknowledged=True)
            if ends_all:
                await self._send_acked(self._closing(clock, body))
                at = datetime.fromisoformat(body["at"])
                clock = _replace(clock, resolved=True, closed_at=at)
                self._signalled.pop(task_id, None)
        elif kind == "emitted":
            if int(body.get("generation") or 0) != clock.generation:
                return "ignored"  # signalled before a reassignment restarted the clocks
            clock = _replace(clock, already=(*clock.already, body["key"]))
        elif kind == "reassign":
            clock = await self._reassign(clock, body)
        self.clocks[task_id] = clock.to_json()  # kept while open: a reassignment re-routes from it
        return "ignored"

    async def _reopen(self, clock: OpenClock, body: dict[str, Any]) -> OpenClock:
        """A closed task reopened: route it to its team again, with fresh SLA budgets."""
        rules = self.rules.current
        at = datetime.fromisoformat(body["at"])
        data = clock.routed.get("data", {})
        policy = rules.policies.get(str(data.get("sla_policy") or ""))
        clocks = policy.clocks(at) if policy else clock.clocks
        message = str(body.get("message") or "")
        team = rules.teams.get(clock.team)
        moved = rerouted_event(
            clock,
            team=clock.team,
            department=team.department if team else data.get("department"),
            reason="reopened" + (f": {message}" if message else ""),
            clocks=clocks,
            at=at,
            event_id=derived_id(TASK_ROUTED, clock.task_id, "reopened", str(body["event_id"])),
            reopened=True,
        )
        key, value = clock.key.encode("utf-8"), moved.to_bytes()
        sends: list[Send] = [
            (self.topic(topics.ROUTED), key, value),
            (self.topic(topics.team_topic(clock.team)), key, value),
        ]
        back = {"kind": "add", "task_id": clock.task_id, "team": clock.team, "state": "reopened"}
        sends += self._to_accounts(data, _dumps(back))
        await self._send_acked(sends)
        self._signalled.pop(clock.task_id, None)
        return _replace(
            clock,
            clocks=clocks,
            routed=_json(moved.model_dump_json()),
            acknowledged=False,
            resolved=False,
            closed_at=None,
            already=(),
            generation=clock.generation + 1,
        )

    async def _reassign(self, clock: OpenClock, body: dict[str, Any]) -> OpenClock:
        """Re-route the task to its new team; its clocks follow the SLA policy's ``on_reassign``."""
        team = str(body["team"])
        if team == clock.team:
            return clock  # already applied (a replay), or handed to the team that has it
        rules = self.rules.current
        if team not in rules.teams:
            raise PoisonMessageError(
                f"task {clock.task_id} was reassigned to {team!r}, a team the rules "
                f"(version {rules.version}) do not know; it was not re-routed",
                "UnknownTeam",
            )
        at = datetime.fromisoformat(body["at"])
        data = clock.routed.get("data", {})
        policy = rules.policies.get(str(data.get("sla_policy") or ""))
        clocks, restarted = policy.reassigned(clock.clocks, at) if policy else (clock.clocks, False)
        message = str(body.get("message") or "")
        moved = rerouted_event(
            clock,
            team=team,
            department=rules.teams[team].department,
            reason=f"reassigned by {clock.team}" + (f": {message}" if message else ""),
            clocks=clocks,
            at=at,
            event_id=derived_id(TASK_ROUTED, clock.task_id, "reassigned", str(body["event_id"])),
            reassigned_from=clock.team,
        )
        key, value = clock.key.encode("utf-8"), moved.to_bytes()
        sends: list[Send] = [
            (self.topic(topics.ROUTED), key, value),
            (self.topic(topics.team_topic(team)), key, value),
        ]
        handed = group_reassign_message(clock.task_id, team)
        if data.get("group_key"):
            sends.append(
                (self.internal(topics.ROUTER_GROUPS), str(data["group_key"]).encode(), handed)
            )
        sends += self._to_accounts(data, handed)
        await self._send_acked(sends)
        self.metrics.reassigned.labels(team).inc()
        if restarted:
            self._signalled.pop(clock.task_id, None)
        return _replace(
            clock,
            team=team,
            escalate_to=rules.teams[team].escalate_to,
            clocks=clocks,
            routed=_json(moved.model_dump_json()),
            acknowledged=False,
            already=() if restarted else clock.already,
            generation=clock.generation + 1 if restarted else clock.generation,
        )

    def _next_due(self, task_id: str, stored: str) -> datetime | None:
        """When the entry next needs the timer; parsed once per change, not every second."""
        cached = self._due_cache.get(task_id)
        if cached is not None and cached[0] == stored:
            return cached[1]
        if len(self._due_cache) > 2 * len(self.clocks) + 1000:  # forget deleted tasks
            self._due_cache = {k: v for k, v in self._due_cache.items() if k in self.clocks}
        if stored.startswith(_EARLY_STOP):
            at = _early(stored)[0]["at"]
            next_due: datetime | None = datetime.fromisoformat(at) + EARLY_STOP_KEPT
        else:
            clock = OpenClock.from_json(stored)
            next_due = (
                (clock.closed_at or self.clock()) + self.reopen_window
                if clock.resolved
                else clock.clocks.next_deadline(
                    acknowledged=clock.acknowledged, resolved=False, already=set(clock.already)
                )
            )
        self._due_cache[task_id] = (stored, next_due)
        return next_due

    async def _forget_stale_stop(self, task_id: str, stored: str, now: datetime) -> None:
        """A stop whose task never started (a task of another router, or already closed)."""
        at = datetime.fromisoformat(_early(stored)[0]["at"])
        if now - at >= EARLY_STOP_KEPT:
            await self._forget(task_id)

    async def _forget(self, task_id: str) -> None:
        """Drop the task's clock entry (through the topic, so the table's changelog has it)."""
        if "forget" in self._signalled.get(task_id, ()):
            return
        forget = _dumps({"kind": "forget", "task_id": task_id})
        await self._send_acked([(self.internal(topics.ROUTER_CLOCKS), task_id.encode(), forget)])
        self._signalled.setdefault(task_id, set()).add("forget")

    def _closing(self, clock: OpenClock, body: dict[str, Any]) -> list[Send]:
        data = clock.routed.get("data", {})
        state = "rejected" if body["type"] == TASK_REJECTED else "resolved"
        at = datetime.fromisoformat(body["at"])
        sends: list[Send] = []
        if data.get("group_key"):
            close = close_message(clock.task_id, state, at)
            sends.append(
                (self.internal(topics.ROUTER_GROUPS), str(data["group_key"]).encode(), close)
            )
        return sends + self._to_accounts(data, _dumps({"kind": "close", "task_id": clock.task_id}))

    def _to_accounts(self, routed: dict[str, Any], message: bytes) -> list[Send]:
        """``message`` to the account index of every account of a routed task."""
        accounts = [a for a in routed.get("accounts") or [routed.get("account")] if a]
        topic = self.internal(topics.ROUTER_ACCOUNTS)
        return [(topic, str(account).encode(), message) for account in accounts]

    async def signal_due_sla_events(self) -> None:
        """Send every SLA event come due on this worker's open clocks (each once)."""
        now = self.clock()
        for task_id, stored in list(self.clocks.items()):
            next_due = self._next_due(task_id, stored)
            if next_due is None or next_due > now:
                continue
            if stored.startswith(_EARLY_STOP):
                await self._forget_stale_stop(task_id, stored, now)
                continue
            clock = OpenClock.from_json(stored)
            if clock.resolved:  # closed longer than a reopen may take
                await self._forget(task_id)
                continue
            for due in clock.due(now):
                if due.key in self._signalled.get(task_id, ()):
                    continue
                signal = sla_event(clock, due)
                key = clock.key.encode("utf-8")
                sends: list[Send] = [(self.topic(topics.SLA), key, signal.to_bytes())]
                escalated = (
                    escalated_event(clock, due, at=now) if due.type == SLA_BREACHED else None
                )
                if escalated is not None and clock.escalate_to is not None:
                    escalation = self.topic(topics.team_topic(clock.escalate_to))
                    sends.append((escalation, key, escalated.to_bytes()))
                sends.append(
                    (
                        self.internal(topics.ROUTER_CLOCKS),
                        task_id.encode(),
                        clock_emitted(task_id, due.key, clock.generation),
                    )
                )
                await self._send_acked(sends)
                self._signalled.setdefault(task_id, set()).add(due.key)
                self.metrics.sla_events.labels(due.type).inc()

    # --- capacity (story 2) --------------------------------------------------------------

    async def track_line_capacity(self, event: EventT[Any]) -> str:
        update = decode_capacity(_as_bytes(event.value))
        stored = self.lines.get(update.line)
        state = lines.LineCapacity.from_dict(_json(stored)) if stored else None
        self.lines[update.line] = _dumps_str(lines.apply_update(state, update).to_dict())
        self.metrics.capacity_updates.inc()
        return "ignored"

    async def check_rush_order(self, event: EventT[Any]) -> str:
        """Check, hold and answer in one step per line (this partition owns the line)."""
        message = decode_decision(load(_as_bytes(event.value)))
        line = _capacity_line(message)
        assert line is not None
        quantity, due = _order(message)
        now = self.clock()
        stored = self.lines.get(line)
        state = lines.LineCapacity.from_dict(_json(stored)) if stored else None
        if state is not None:
            state, _ = lines.expire_holds(state, now)
        hold_id = derived_id("hold", message.event.id, message.decision.route_id)
        placed = state.holds.get(hold_id) if state is not None else None
        if state is not None and placed is not None:
            earliest: date | None = max(placed.allocations)
            feasible = True
        else:
            answer = lines.check(state, quantity=quantity, due=due, today=now.date(), now=now)
            feasible = isinstance(answer, lines.Feasible)
            earliest = (
                answer.earliest
                if isinstance(answer, lines.Feasible)
                else answer.earliest_feasible
                if isinstance(answer, lines.Infeasible)
                else None
            )
            if isinstance(answer, lines.Feasible) and state is not None:
                hold = lines.Hold(
                    hold_id=hold_id,
                    line=line,
                    allocations=answer.allocations,
                    expires_at=now + self.rules.current.hold_expiry,
                    task_id=message.task_id,
                )
                state = lines.place_hold(state, hold, now=now)
                self.lines[line] = _dumps_str(state.to_dict())
        self.metrics.capacity_checks.labels("feasible" if feasible else "infeasible").inc()
        if feasible and earliest is not None:
            answered = feasible_answer(message, earliest, at=now)
            task = answered_task(message, answered)
            key = message.account.encode("utf-8")
            await self._send_acked(
                [
                    (self.topic(topics.FEEDBACK), key, answered.to_bytes()),
                    (self.topic(topics.ROUTED), key, task.to_bytes()),
                ]
            )
            return "answered"
        planning = with_feasibility(message, earliest)
        group = message.decision.group_key.encode("utf-8")
        await self._send_acked(
            [(self.internal(topics.ROUTER_GROUPS), group, encode_decision(planning))]
        )
        return "ignored"

    # --- sending ------------------------------------------------------------------------

    async def _dead_letter(self, event: EventT[Any], reason: str, error_type: str) -> str:
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
        await self._send_acked([(self.topic(topics.DLQ), _as_bytes(event.key), letter.to_bytes())])
        return outcomes.DEAD_LETTERED

    async def _send_acked(self, sends: Sequence[Send]) -> None:
        """Send all, wait for every ack; retry what failed until it is acknowledged.

        Inside a batch the sends join the batch's, made when it ends. The event
        is held (not acknowledged, not committed) meanwhile, so a broker outage
        stalls the partition instead of losing the message. Resending is
        harmless: the ids are derived from the source event.
        """
        batch = _CURRENT_BATCH.get()
        if batch is not None:
            batch.sends.extend(sends)
            return
        pending = list(sends)
        backoff = 0.5
        while pending:
            # enqueued one after the other (the producer keeps that order), acked together
            enqueued = [await self._enqueue(topic, key, value) for topic, key, value in pending]
            results = await asyncio.gather(*enqueued, return_exceptions=True)
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

    async def _enqueue(self, topic: TopicT, key: bytes | None, value: bytes) -> Awaitable[Any]:
        """The send handed to the producer; an awaitable of its acknowledgement (or error)."""
        try:
            acked: Awaitable[Any] = await topic.send(key=key, value=value)
        except _SEND_ERRORS as exc:
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            return failed
        return acked


class _Batch:
    """What a batch of events produced: the sends to make, and the table writes to apply
    once they are acknowledged (read back by the batch's later events meanwhile)."""

    def __init__(self) -> None:
        self.sends: list[Send] = []
        self.writes: list[tuple[_BatchedTable, str, str | None, EventT[Any]]] = []  # None: del
        self.overlay: dict[tuple[int, str], str | None] = {}
        self.event: EventT[Any] | None = None  # the one being handled

    def write(self, table: _BatchedTable, key: str, value: str | None) -> None:
        assert self.event is not None
        self.writes.append((table, key, value, self.event))
        self.overlay[(id(table), key)] = value

    def mark(self) -> tuple[int, int]:
        return len(self.sends), len(self.writes)

    def undo(self, mark: tuple[int, int]) -> None:
        """Forget what was produced since ``mark`` (an event that failed half-way)."""
        sends, writes = mark
        del self.sends[sends:]
        del self.writes[writes:]
        self.overlay = {(id(table), key): value for table, key, value, _ in self.writes}

    async def apply(self) -> None:
        """Write to the tables, each change to the changelog partition of its event."""
        for table, key, value, event in self.writes:
            token = _faust_current_event.set(weakref.ref(event))
            try:
                await _retrying_metadata(functools.partial(table.apply, key, value), event)
            finally:
                _faust_current_event.reset(token)


_CURRENT_BATCH: ContextVar[_Batch | None] = ContextVar("handoff_router_batch", default=None)


class _BatchedTable(MutableMapping[str, str]):
    """A Faust table read through the current batch's pending writes; written directly
    outside a batch (the SLA timer)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def __getitem__(self, key: str) -> str:
        batch = _CURRENT_BATCH.get()
        if batch is not None and (id(self), key) in batch.overlay:
            value = batch.overlay[(id(self), key)]
            if value is None:
                raise KeyError(key)
            return value
        return cast(str, self.table[key])

    def __setitem__(self, key: str, value: str) -> None:
        batch = _CURRENT_BATCH.get()
        if batch is None:
            self.table[key] = value
        else:
            batch.write(self, key, value)

    def __delitem__(self, key: str) -> None:
        self[key]  # KeyError if it is not there
        batch = _CURRENT_BATCH.get()
        if batch is None:
            del self.table[key]
        else:
            batch.write(self, key, None)

    def __iter__(self) -> Iterator[str]:
        batch = _CURRENT_BATCH.get()
        if batch is None:
            return iter(list(self.table.keys()))
        mine = {key: value for (table, key), value in batch.overlay.items() if table == id(self)}
        keys = [k for k in self.table if k not in mine]
        return iter(keys + [k for k, value in mine.items() if value is not None])

    def __len__(self) -> int:
        return len(self.table)

    def items(self) -> Any:
        if _CURRENT_BATCH.get() is None:
            return list(self.table.items())
        return super().items()

    async def apply(self, key: str, value: str | None) -> None:
        if value is None:
            self.table.pop(key, None)
        else:
            self.table[key] = value


async def _retrying_metadata(attempt: Callable[[], Awaitable[_T]], event: EventT[Any]) -> _T:
    """A table whose changelog the worker's metadata does not know yet is not the
    message's fault: wait and try again (resends carry the same ids)."""
    backoff = 0.5
    while True:
        try:
            return await attempt()
        except PartitionsMismatch as exc:
            log.warning("%s: %s; retrying in %.1fs", _where(event), exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)


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


def _related(index: str, account: str, rules: RoutingRules) -> tuple[RelatedTask, ...]:
    """The account's other open tasks, the ``RELATED_MAX`` most recent (oldest first)."""
    found = AccountIndex.from_dict(_json(index)).related(account)[-RELATED_MAX:]
    return tuple(
        RelatedTask(
            task_id=t.task_id,
            team=t.team,
            department=rules.teams[t.team].department if t.team in rules.teams else None,
            state=t.state,
        )
        for t in found
    )


def _capacity_line(message: DecisionMessage) -> str | None:
    spec = message.decision.capacity
    if spec is None or message.earliest_feasible is not None:
        return None
    return message.labels.get(spec.line_label) or None


def _order(message: DecisionMessage) -> tuple[int, date]:
    spec = message.decision.capacity
    assert spec is not None
    try:
        quantity = int(message.labels[spec.quantity_label])
        due = date.fromisoformat(message.labels[spec.due_label])
    except (KeyError, ValueError) as exc:
        raise PoisonMessageError(
            f"a capacity-checked request needs {spec.quantity_label} and {spec.due_label}: {exc}",
            "InvalidCapacityRequest",
        ) from exc
    return quantity, due


def _early(stored: str) -> list[dict[str, Any]]:
    """What came for a task before its clock started, oldest first."""
    early = json.loads(stored.removeprefix(_EARLY_STOP))
    return early if isinstance(early, list) else [early]


def _replace(clock: OpenClock, **changes: Any) -> OpenClock:
    return OpenClock(**{**clock.__dict__, **changes})


def _json(text: str) -> Any:
    return json.loads(text)


def _dumps_str(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _dumps(body: Any) -> bytes:
    return _dumps_str(body).encode("utf-8")


def _as_bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def _as_str(value: Any) -> str:
    raw = _as_bytes(value)
    return "" if raw is None else raw.decode("utf-8", errors="replace")


def _where(event: EventT[Any]) -> str:
    message = event.message
    return f"{message.topic}[{message.partition}]@{message.offset}"


def run_worker(settings: RouterSettings) -> None:
    """Read the rules, create the topics, run a Faust worker until SIGTERM/SIGINT."""
    bootstrap, key = settings.kafka_bootstrap, settings.router_rules_key
    try:
        rules = initial_rules(settings.router_rules_file, bootstrap, key=key)
    except HandoffError as exc:
        sys.exit(f"router: cannot start: {exc}")
    settings.router_data_dir.mkdir(parents=True, exist_ok=True)
    holder = RulesHolder(rules)
    metrics = RouterMetrics(REGISTRY)
    app = build_app(settings, holder, registry=REGISTRY, metrics=metrics)
    changelogs = [table.changelog_topic.get_topic_name() for table in app.tables.values()]
    ensure_router_topics(
        bootstrap,
        rules.teams,
        settings.topic_partitions,
        settings.router_app_id,
        changelogs=changelogs,
    )

    def new_teams(teams: Iterable[str]) -> None:
        ensure_router_topics(bootstrap, teams, settings.topic_partitions, settings.router_app_id)

    feed = RulesFeed(
        bootstrap,
        holder,
        key=key,
        on_new_teams=new_teams,
        on_outcome=lambda outcome: metrics.rules_reloads.labels(outcome).inc(),
    )
    feed.start()
    log.info("router %s: rules version %s", settings.router_app_id, rules.version)
    worker = faust.Worker(app, loglevel=_FAUST_LOGLEVELS[settings.router_log_level])
    try:
        worker.execute_from_commandline()
    finally:
        feed.stop()
