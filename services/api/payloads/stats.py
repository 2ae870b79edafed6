"""Latency and SLA figures: feedback latency, per department x team figures, who waits."""

from pydantic import BaseModel, Field

from services.api.figures import Figures, Waiting
from services.core.stats import LatencySummary


class LatencyOut(BaseModel):
    count: int
    p50_s: float | None
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
    overall: LatencyOut
    teams: dict[str, LatencyOut]


class FiguresOut(BaseModel):
    department: str
    team: str
    tasks: int
    feedback_latency: LatencyOut = Field(description="Raised -> answer acknowledged by origin")
    time_to_route: LatencyOut
    time_to_acknowledge: LatencyOut
    time_to_resolve: LatencyOut
    acknowledged_in_time: float | None = Field(description="Share acknowledged by the SLA due")
    resolved_in_time: float | None = Field(description="Share resolved by the SLA due")

    @classmethod
    def of(cls, f: Figures) -> "FiguresOut":
        return cls(
            department=f.department,
            team=f.team,
            tasks=f.tasks,
            feedback_latency=LatencyOut.of(f.feedback_latency),
            time_to_route=LatencyOut.of(f.time_to_route),
            time_to_acknowledge=LatencyOut.of(f.time_to_acknowledge),
            time_to_resolve=LatencyOut.of(f.time_to_resolve),
            acknowledged_in_time=f.acknowledged_in_time,
            resolved_in_time=f.resolved_in_time,
        )


class FiguresPage(BaseModel):
    groups: list[FiguresOut]


class WaitingOut(BaseModel):
    department: str = Field(description="Who asked")
    team: str = Field(description="Who answers")
    open: int
    median_feedback_latency_s: float | None

    @classmethod
    def of(cls, waiting: Waiting) -> "WaitingOut":
        return cls.model_validate(waiting, from_attributes=True)


class WhoWaitsOut(BaseModel):
    pairs: list[WaitingOut]
