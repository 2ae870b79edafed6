"""The router's Prometheus metrics, built on an injected registry."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram

ROUTED: Final = "routed"
DUPLICATE: Final = "duplicate"
DEAD_LETTERED: Final = "dead_lettered"
FORWARDED: Final = "forwarded"  # a ticket update, passed on to the task it belongs to
OUTCOMES: Final = (ROUTED, DUPLICATE, DEAD_LETTERED, FORWARDED)

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


class RouterMetrics:
    """Every metric the router exposes. Labels are bounded: outcome, team."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "handoff_router_events_total",
            "Events the router consumed, by outcome (routed, duplicate, dead_lettered).",
            ["outcome"],
            registry=registry,
        )
        self.routed = Counter(
            "handoff_router_routed_total",
            "Tasks routed, by owning team.",
            ["team"],
            registry=registry,
        )
        self.reassigned = Counter(
            "handoff_router_reassigned_total",
            "Tasks re-routed after a team handed them over, by the team they went to.",
            ["team"],
            registry=registry,
        )
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
        self.send_retries = Counter(
            "handoff_router_send_retries_total",
            "Times a send was not acknowledged and retried (the event is held, not dropped).",
            registry=registry,
        )
        self.sla_events = Counter(
            "handoff_router_sla_events_total",
            "SLA signals sent to handoff.sla, by type (sla.at_risk, sla.breached).",
            ["type"],
            registry=registry,
        )
        self.capacity_updates = Counter(
            "handoff_router_capacity_updates_total",
            "production.capacity updates applied to the per-line capacity table.",
            registry=registry,
        )
        self.capacity_checks = Counter(
            "handoff_router_capacity_checks_total",
            "Capacity-checked requests, by outcome (feasible, infeasible).",
            ["outcome"],
            registry=registry,
        )
        self.rules_reloads = Counter(
            "handoff_router_rules_reloads_total",
            "Rule sets taken from handoff.rules, by outcome (applied, refused).",
            ["outcome"],
            registry=registry,
        )
        for outcome in OUTCOMES:
            self.events.labels(outcome)

    def know_teams(self, teams: Iterable[str]) -> None:
        """Show every team from the rules at 0 before its first task."""
        for team in teams:
            self.routed.labels(team)
