"""Latency and SLA figures per source department x answering team, and who waits on whom."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Protocol

from services.api.lifecycle import ACTIVE
from services.core.stats import LatencySummary, summarize


class TaskTimes(Protocol):
    """What the figures read of a task (a ``Task`` or a row of those columns)."""

    @property
    def department(self) -> str | None: ...
    @property
    def team(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def raised_at(self) -> datetime: ...
    @property
    def routed_at(self) -> datetime: ...
    @property
    def acknowledged_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def sla_due(self) -> datetime: ...
    @property
    def feedback_latency_s(self) -> float | None: ...


@dataclass(frozen=True)
class Figures:
    department: str
    team: str
    tasks: int
    feedback_latency: LatencySummary
    time_to_route: LatencySummary
    time_to_acknowledge: LatencySummary
    time_to_resolve: LatencySummary
    acknowledged_in_time: float | None  # share of tasks due by now acknowledged before sla_due
    resolved_in_time: float | None


def _seconds(later: datetime | None, earlier: datetime) -> float | None:
    return None if later is None else max(0.0, (later - earlier).total_seconds())


def _share(hits: int, total: int) -> float | None:
    return None if total == 0 else hits / total


def figures(tasks: Iterable[TaskTimes], now: datetime) -> list[Figures]:
    """One :class:`Figures` per (department, team), sorted."""
    groups: dict[tuple[str, str], list[TaskTimes]] = defaultdict(list)
    for task in tasks:
        groups[(task.department or "unknown", task.team)].append(task)
    out = []
    for (department, team), members in sorted(groups.items()):
        feedback = [t.feedback_latency_s for t in members if t.feedback_latency_s is not None]
        route = [_seconds(t.routed_at, t.raised_at) for t in members]
        ack = [_seconds(t.acknowledged_at, t.raised_at) for t in members]
        resolve = [_seconds(t.resolved_at, t.raised_at) for t in members if t.state == "resolved"]
        due = [t for t in members if t.sla_due <= now or t.state not in ACTIVE]
        acked = sum(
            1 for t in due if t.acknowledged_at is not None and t.acknowledged_at <= t.sla_due
        )
        solved = sum(
            1
            for t in due
            if t.state == "resolved" and t.resolved_at is not None and t.resolved_at <= t.sla_due
        )
        out.append(
            Figures(
                department=department,
                team=team,
                tasks=len(members),
                feedback_latency=summarize(feedback),
                time_to_route=summarize([v for v in route if v is not None]),
                time_to_acknowledge=summarize([v for v in ack if v is not None]),
                time_to_resolve=summarize([v for v in resolve if v is not None]),
                acknowledged_in_time=_share(acked, len(due)),
                resolved_in_time=_share(solved, len(due)),
            )
        )
    return out


@dataclass(frozen=True)
class Waiting:
    department: str
    team: str
    open: int
    median_feedback_latency_s: float | None


def who_waits(tasks: Iterable[TaskTimes]) -> list[Waiting]:
    """For each asking department x answering team: open requests, median feedback latency."""
    open_count: dict[tuple[str, str], int] = defaultdict(int)
    latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
    for task in tasks:
        pair = (task.department or "unknown", task.team)
        open_count[pair] += task.state in ACTIVE
        if task.feedback_latency_s is not None:
            latencies[pair].append(task.feedback_latency_s)
    return [
        Waiting(d, t, open_count[(d, t)], median(latencies[(d, t)]) if latencies[(d, t)] else None)
        for d, t in sorted(open_count)
    ]
