"""Latency and SLA figures: feedback latency, per department x team figures, who waits."""

from typing import Final

from pydantic import BaseModel, Field

from services.api.figures import FeedbackLatency, Figures, Waiting
from services.core.stats import LatencySummary

BOUND: Final = (
    "Percentiles and max come from fixed log-spaced bins 1 % wide: each is within 1.01 % "
    "(at most 2 %) of the exact nearest-rank value, and exact while its bin holds one value."
)
ANSWERED_BY: Final = "team: answered by people; router: the router's own instant answer"


class LatencyOut(BaseModel):
    count: int
    p50_s: float | None = Field(description=BOUND)
    p90_s: float | None
    p99_s: float | None
    max_s: float | None

    @classmethod
    def of(cls, summary: LatencySummary) -> "LatencyOut":
        return cls(
            count=summary.count,
            p50_s=summary.p50,
            p90_s=summary.p90,
            p99_s=summary.p99,
            max_s=summary.max,
        )


class LatencyStats(BaseModel):
    overall: LatencyOut = Field(
        description="Per asker (one value per request: a task grouping four tickets answers "
        "four askers), from the request to its answer's delivery, answers by people only"
    )
    teams: dict[str, LatencyOut] = Field(description="The same, per answering team")
    router: LatencyOut = Field(
        default_factory=lambda: LatencyOut.of(LatencySummary(0, None, None, None, None)),
        description="Per asker, the router's own instant answers (feasible rush orders)",
    )
    router_teams: dict[str, LatencyOut] = Field(default_factory=dict)
    per_task: LatencyOut = Field(
        default_factory=lambda: LatencyOut.of(LatencySummary(0, None, None, None, None)),
        description="Secondary: one value per task answered by people (its first request)",
    )

    @classmethod
    def of(cls, found: FeedbackLatency) -> "LatencyStats":
        return cls(
            overall=LatencyOut.of(found.overall),
            teams={name: LatencyOut.of(s) for name, s in found.teams.items()},
            router=LatencyOut.of(found.router),
            router_teams={name: LatencyOut.of(s) for name, s in found.router_teams.items()},
            per_task=LatencyOut.of(found.per_task),
        )


class FiguresOut(BaseModel):
    department: str = Field(description="The asking department (the request's source's)")
    team: str = Field(description="The answering team")
    answered_by: str = Field(default="team", description=ANSWERED_BY)
    tasks: int
    requests: int = Field(default=0, description="Requests (askers) grouped into the tasks")
    feedback_latency: LatencyOut = Field(
        description="Per request: raised -> answer delivered to the asker. " + BOUND
    )
    feedback_latency_per_task: LatencyOut | None = Field(
        default=None, description="Secondary: one value per task"
    )
    time_to_route: LatencyOut
    time_to_acknowledge: LatencyOut
    time_to_resolve: LatencyOut
    acknowledged_in_time: float | None = Field(
        description="Share acknowledged (or answered) by the acknowledge deadline, of the "
        "tasks whose acknowledgement is decided (done, or the deadline passed)"
    )
    resolved_in_time: float | None = Field(
        description="Share resolved by the resolve deadline, of the tasks closed or past it"
    )

    @classmethod
    def of(cls, f: Figures) -> "FiguresOut":
        return cls(
            department=f.department,
            team=f.team,
            answered_by=f.answered_by,
            tasks=f.tasks,
            requests=f.requests,
            feedback_latency=LatencyOut.of(f.feedback_latency),
            feedback_latency_per_task=LatencyOut.of(f.feedback_latency_per_task),
            time_to_route=LatencyOut.of(f.time_to_route),
            time_to_acknowledge=LatencyOut.of(f.time_to_acknowledge),
            time_to_resolve=LatencyOut.of(f.time_to_resolve),
            acknowledged_in_time=f.acknowledged_in_time,
            resolved_in_time=f.resolved_in_time,
        )


class FiguresPage(BaseModel):
    groups: list[FiguresOut] = Field(
        description="One per asking department x answering team x answered_by"
    )


class WaitingOut(BaseModel):
    department: str = Field(description="Who asked (the request's source's department)")
    team: str = Field(description="Who answers")
    open: int = Field(description="Open tasks")
    median_feedback_latency_s: float | None = Field(
        description="Per request, answers by people. " + BOUND
    )
    open_requests: int = Field(default=0, description="Open requests (askers waiting)")
    p90_feedback_latency_s: float | None = None
    answered: int = Field(default=0, description="Requests answered by people")
    router_answered: int = Field(default=0, description="Requests the router answered itself")
    router_median_feedback_latency_s: float | None = None

    @classmethod
    def of(cls, waiting: Waiting) -> "WaitingOut":
        return cls.model_validate(waiting, from_attributes=True)


class WhoWaitsOut(BaseModel):
    pairs: list[WaitingOut]
