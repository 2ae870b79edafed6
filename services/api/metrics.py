"""The API's Prometheus metrics, built on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# From seconds to two weeks: answers come back in minutes for chat-like teams, days for others.
LATENCY_BUCKETS = (
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14_400.0,
    28_800.0, 86_400.0, 172_800.0, 345_600.0, 604_800.0, 1_209_600.0,
)  # fmt: skip
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """Every metric the API exposes. Labels are bounded: team, outcome, route template, status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.tasks_projected = Counter(
            "handoff_api_tasks_projected_total",
            "task.routed messages the projector handled, by outcome "
            "(inserted, duplicate, dead_lettered).",
            ["outcome"],
            registry=registry,
        )
        self.projector_retries = Counter(
            "handoff_api_projector_retries_total",
            "Times the projector backed off because the database or the broker failed.",
            ["part"],
            registry=registry,
        )
        self.tasks_resolved = Counter(
            "handoff_api_tasks_resolved_total",
            "Tasks resolved through the API (feedback acknowledged by the broker).",
            ["team"],
            registry=registry,
        )
        self.feedback_failures = Counter(
            "handoff_api_feedback_failures_total",
            "Resolutions refused with 503 because the broker did not acknowledge the feedback.",
            registry=registry,
        )
        self.feedback_latency = Histogram(
            "handoff_api_feedback_latency_seconds",
            "From the moment the origin raised the request to the answer, per team.",
            ["team"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.requests = Counter(
            "handoff_api_requests_total",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "handoff_api_request_duration_seconds",
            "HTTP request handling time by route template.",
            ["route"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.transitions = Counter(
            "handoff_api_task_transitions_total",
            "Task lifecycle changes and comments through the API, by event type and team.",
            ["type", "team"],
            registry=registry,
        )
        self.time_to_acknowledge = Histogram(
            "handoff_api_time_to_acknowledge_seconds",
            "From the origin's request to the team's acknowledgement.",
            ["team", "department"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.time_to_resolve = Histogram(
            "handoff_api_time_to_resolve_seconds",
            "From the origin's request to the resolution (answer given).",
            ["team", "department"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.delivered_feedback_latency = Histogram(
            "handoff_api_delivered_feedback_latency_seconds",
            "From the origin's request to the origin's 2xx for the answer, "
            "per answering team and source department.",
            ["team", "department"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.deliveries = Counter(
            "handoff_api_callback_deliveries_total",
            "Callback delivery attempts by outcome (delivered, failed, dead).",
            ["outcome"],
            registry=registry,
        )
