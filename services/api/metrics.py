"""The API's Prometheus metrics, built on an injected registry."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Final

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.api.clock import Clock, utc_now
from services.api.db import Delivery, Task
from services.api.lifecycle import ACTIVE
from services.kafka_lag import CachedReading, ConsumerLagCollector, watch_consumer_lag

SERVICE: Final = "api"
# From seconds to two weeks: answers come back in minutes for chat-like teams, days for others.
LATENCY_BUCKETS = (
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14_400.0,
    28_800.0, 86_400.0, 172_800.0, 345_600.0, 604_800.0, 1_209_600.0,
)  # fmt: skip
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Why the projector (and the deliverer, CallbackDeliveryFailed) parked a record on handoff.dlq.
DLQ_REASONS: Final = (
    "EmptyMessage", "InvalidCloudEvent", "UnexpectedEventType", "InvalidTaskRouted",
    "InvalidTicketUpdated", "CallbackDeliveryFailed", "other",
)  # fmt: skip
SLA_STATES: Final = ("ok", "at_risk", "breached")
# The deliveries table's states (services/api/callbacks.py): dead = parked on handoff.dlq.
OUTSTANDING: Final = {"pending": "pending", "dead": "parked"}


class ApiMetrics:
    """Every metric the API exposes. Labels are bounded: team, outcome, route template, status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        counter = functools.partial(_counter, registry)
        self.tasks_projected = counter(
            "tasks_projected",
            "task.routed messages the projector handled, by outcome "
            "(inserted, duplicate, dead_lettered).",
            ["outcome"],
        )
        self.projector_retries = counter(
            "projector_retries",
            "Times the projector backed off because the database or the broker failed.",
            ["part"],
        )
        self.tasks_resolved = counter(
            "tasks_resolved",
            "Tasks resolved through the API (feedback acknowledged by the broker).",
            ["team"],
        )
        self.feedback_failures = counter(
            "feedback_failures",
            "Resolutions refused with 503 because the broker did not acknowledge the feedback.",
        )
        self.requests = counter(
            "requests", "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
        )  # fmt: skip
        self.transitions = counter(
            "task_transitions",
            "Task lifecycle changes and comments through the API, by event type and team.",
            ["type", "team"],
        )
        self.deliveries = counter(
            "callback_deliveries",
            "Callback delivery attempts by outcome (delivered, failed, dead).",
            ["outcome"],
        )
        self.dead_letters = counter(
            "dead_letters", "Records sent to handoff.dlq, by reason (the error type).", ["reason"]
        )
        self._histograms(functools.partial(_histogram, registry))
        self.rules = Info("handoff_api_rules", "The rule set the API serves.", registry=registry)
        for reason in DLQ_REASONS:
            self.dead_letters.labels(reason)

    def _histograms(self, histogram: functools.partial[Histogram]) -> None:
        self.feedback_latency = histogram(
            "feedback_latency",
            "From the moment the origin raised the request to the answer, per team.",
            ["team"],
        )
        self.request_duration = histogram(
            "request_duration", "HTTP request handling time by route template.", ["route"],
            buckets=REQUEST_BUCKETS,
        )  # fmt: skip
        self.time_to_acknowledge = histogram(
            "time_to_acknowledge",
            "From the origin's request to the team's acknowledgement.",
            ["team", "department"],
        )
        self.time_to_resolve = histogram(
            "time_to_resolve",
            "From the origin's request to the resolution (answer given).",
            ["team", "department"],
        )
        self.delivered_feedback_latency = histogram(
            "delivered_feedback_latency",
            "From the origin's request to the origin's 2xx for the answer, "
            "per answering team and source department.",
            ["team", "department"],
        )

    def dead_lettered(self, error_type: str) -> None:
        """One record sent to handoff.dlq; an error type outside DLQ_REASONS counts as other."""
        self.dead_letters.labels(error_type if error_type in DLQ_REASONS else "other").inc()

    def rules_in_force(self, version: str) -> None:
        """The API now serves rule-set ``version`` (at start and on each reload)."""
        self.rules.info({"version": version})

    def watch_consumer_lag(self, bootstrap: str, groups: Sequence[str]) -> ConsumerLagCollector:
        """Serve the consumer groups' lag (the projector's group) with this registry."""
        return watch_consumer_lag(self._registry, SERVICE, bootstrap, groups)

    def watch_database(self, engine: sa.Engine, at_risk_s: float = 3600.0) -> RollupCollector:
        """Serve open tasks by team and SLA state, and deliveries outstanding, from ``engine``."""
        collector = RollupCollector(engine, at_risk_s=at_risk_s)
        self._registry.register(collector)
        return collector


def _counter(
    registry: CollectorRegistry, what: str, description: str, labels: Sequence[str] = ()
) -> Counter:
    return Counter(f"handoff_{SERVICE}_{what}_total", description, labels, registry=registry)


def _histogram(
    registry: CollectorRegistry,
    what: str,
    description: str,
    labels: Sequence[str],
    buckets: Sequence[float] = LATENCY_BUCKETS,
) -> Histogram:
    return Histogram(
        f"handoff_{SERVICE}_{what}_seconds", description, labels, buckets=buckets, registry=registry
    )


Rollup = tuple[dict[tuple[str, str], int], dict[str, int]]


class RollupCollector(Collector):
    """Two grouped queries per refresh (never per task), cached for ``max_age_s``.

    ``handoff_api_open_tasks{team, sla}``: active tasks whose ``sla_due`` has
    passed (breached), comes within ``at_risk_s`` (at_risk), or not (ok) — the
    API's own ok/breached split plus a warning window.
    ``handoff_api_callback_deliveries_outstanding{state}``: pending or parked.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        at_risk_s: float = 3600.0,
        max_age_s: float = 30.0,
        wait_s: float = 2.0,
        clock: Clock = utc_now,
    ) -> None:
        self._engine, self._at_risk, self._clock = engine, timedelta(seconds=at_risk_s), clock
        self._reading = CachedReading(self.read, max_age_s=max_age_s, wait_s=wait_s)

    def read(self) -> Rollup:
        now = self._clock()
        # a subquery: PostgreSQL does not see two bound CASEs (SELECT, GROUP BY) as one
        active = (
            sa.select(
                Task.team,
                sa.case(
                    (Task.sla_due < now, "breached"),
                    (Task.sla_due < now + self._at_risk, "at_risk"),
                    else_="ok",
                ).label("sla"),
            )
            .where(Task.state.in_(sorted(ACTIVE)))
            .subquery()
        )
        with self._engine.connect() as conn:
            tasks = conn.execute(
                sa.select(active.c.team, active.c.sla, sa.func.count()).group_by(
                    active.c.team, active.c.sla
                )
            ).all()
            deliveries = conn.execute(
                sa.select(Delivery.state, sa.func.count())
                .where(Delivery.state.in_(sorted(OUTSTANDING)))
                .group_by(Delivery.state)
            ).all()
        open_tasks = {(str(team), str(state)): int(n) for team, state, n in tasks}
        return open_tasks, {OUTSTANDING[str(state)]: int(n) for state, n in deliveries}

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        rollup = self._reading.get()
        tasks, deliveries = self._families()
        if rollup is not None:
            for (team, state), count in sorted(rollup[0].items()):
                tasks.add_metric([team, state], count)
            for state in OUTSTANDING.values():
                deliveries.add_metric([state], rollup[1].get(state, 0))
        yield tasks
        yield deliveries

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        tasks = GaugeMetricFamily(
            "handoff_api_open_tasks",
            "Active tasks by team and SLA state (ok, at_risk: due within the window, breached).",
            labels=["team", "sla"],
        )
        deliveries = GaugeMetricFamily(
            "handoff_api_callback_deliveries_outstanding",
            "Callback deliveries not done: pending (being retried) or parked (dead, on the DLQ).",
            labels=["state"],
        )
        return tasks, deliveries
