"""The router's Prometheus metrics, built on an injected registry."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, Info

from services.kafka_lag import ConsumerLagCollector, watch_consumer_lag

SERVICE: Final = "router"
ROUTED: Final = "routed"
DUPLICATE: Final = "duplicate"
DEAD_LETTERED: Final = "dead_lettered"
FORWARDED: Final = "forwarded"  # a ticket update, passed on to the task it belongs to
UPDATED: Final = "updated"  # a request's new terms changed its task's: the task was updated
OUTCOMES: Final = (ROUTED, DUPLICATE, DEAD_LETTERED, FORWARDED, UPDATED)
# Why a record went to handoff.dlq: the PoisonMessageError types the codecs raise;
# any other error (a bug, counted under its exception class in the letter) is "other".
DLQ_REASONS: Final = (
    "EmptyMessage", "InvalidJson", "InvalidCloudEvent", "InvalidSupportTicket",
    "InvalidSalesNote", "InvalidRouterMessage", "InvalidTicketUpdated",
    "InvalidCapacityRequest", "InvalidProductionCapacity", "UnexpectedEventType",
    "UnknownTeam", "other",
)  # fmt: skip

# From the event's time to routed: milliseconds when the router keeps up, up to
# days when the event time is the customer's own (old) creation time.
ROUTE_LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0, 14_400.0, 86_400.0, 604_800.0,
)  # fmt: skip
# One event through the agent's handler; its sends are acknowledged with its batch's.
PROCESSING_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# The API's feedback-latency buckets (services/api/metrics.py), so the router's own
# answers and the teams' answers share one heatmap.
ANSWER_BUCKETS = (
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14_400.0,
    28_800.0, 86_400.0, 172_800.0, 345_600.0, 604_800.0, 1_209_600.0,
)  # fmt: skip


class RouterMetrics:
    """Every metric the router exposes. Labels are bounded: outcome, team, type, reason."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        counter = functools.partial(_counter, registry)
        self.events = counter(
            "events",
            "Events the router consumed, by outcome (routed, duplicate, ...).",
            ["outcome"],
        )
        self.routed = counter("routed", "Tasks routed, by owning team.", ["team"])
        self.reassigned = counter(
            "reassigned", "Tasks re-routed after a handover, by the team they went to.", ["team"]
        )
        self.send_retries = counter(
            "send_retries", "Sends not acknowledged and retried (the event is held, not dropped)."
        )
        self.sla_events = counter(
            "sla_events", "SLA signals sent to handoff.sla, by type (sla.at_risk, ...).", ["type"]
        )
        self.capacity_updates = counter(
            "capacity_updates", "production.capacity updates applied to the capacity table."
        )
        self.capacity_checks = counter(
            "capacity_checks", "Capacity-checked requests, by outcome (feasible, ...).", ["outcome"]
        )
        self.rules_reloads = counter(
            "rules_reloads", "Rule sets taken from handoff.rules, by outcome.", ["outcome"]
        )
        self.dead_letters = counter(
            "dead_letters", "Records sent to handoff.dlq, by reason (the error type).", ["reason"]
        )
        self._histograms(registry)
        self.rules = Info(
            "handoff_router_rules", "The rule set in force in this worker.", registry=registry
        )
        for outcome in OUTCOMES:
            self.events.labels(outcome)
        for reason in DLQ_REASONS:
            self.dead_letters.labels(reason)

    def _histograms(self, registry: CollectorRegistry) -> None:
        self.route_latency = Histogram(
            "handoff_router_route_latency_seconds",
            "From the ticket event's time to the moment its task.routed was acknowledged.",
            buckets=ROUTE_LATENCY_BUCKETS,
            registry=registry,
        )
        self.processing = Histogram(
            "handoff_router_processing_seconds",
            "Time to handle one consumed event (its sends are acknowledged with its batch's).",
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        )
        self.answer_latency = Histogram(
            "handoff_router_answer_latency_seconds",
            "From the request's time to the router's own answer (a feasible rush order), "
            "per answering team and asking department.",
            ["team", "department"],
            buckets=ANSWER_BUCKETS,
            registry=registry,
        )

    def know_teams(self, teams: Iterable[str]) -> None:
        """Show every team from the rules at 0 before its first task."""
        for team in teams:
            self.routed.labels(team)

    def dead_lettered(self, error_type: str) -> None:
        """One record sent to handoff.dlq; an error type outside DLQ_REASONS counts as other."""
        self.dead_letters.labels(error_type if error_type in DLQ_REASONS else "other").inc()

    def rules_in_force(self, version: str) -> None:
        """The worker now routes with rule-set ``version`` (at start and on each reload)."""
        self.rules.info({"version": version})

    def answered(self, team: str, department: str, seconds: float) -> None:
        """The router answered a request itself, ``seconds`` after it was raised."""
        self.answer_latency.labels(team=team, department=department).observe(max(seconds, 0.0))

    def watch_consumer_lag(self, bootstrap: str, groups: Sequence[str]) -> ConsumerLagCollector:
        """Serve the consumer groups' lag (the router's app id) with this registry."""
        return watch_consumer_lag(self._registry, SERVICE, bootstrap, groups)


def _counter(
    registry: CollectorRegistry, what: str, description: str, labels: Sequence[str] = ()
) -> Counter:
    return Counter(f"handoff_{SERVICE}_{what}_total", description, labels, registry=registry)
