"""What one task counts for in the figures: pure, so a rebuild and the projector agree.

A task's *increments* are every count and latency it adds to the figures, each
at its own time (the task's or the request's raise, or the answer's delivery)
and key (asking department, answering team, answered_by). The rollups hold
their sums per hour, per UTC day and for all time; a change of a task is tallied as its
increments after the change minus those before (``diff``), so a replayed
event, which changes nothing, counts nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from services.api.lifecycle import ACTIVE
from services.api.models.rollups import ALL, ALL_TIME, DAY, HOUR
from services.core.departments import asking_department
from services.core.stats import Bins, LatencySummary, add_value, merge_bins, summarize_bins

ROUTER: Final = "router"
TEAM: Final = "team"
ANY: Final = "*"  # a department or team summed over: answers are also kept per team and overall,
# answers and tasks raised overall (department and team both ANY: the overview's charts)
# Measures. Per task, at the task's raise: tasks, open, route/ack/resolve latencies,
# feedback_task (its first answer's latency), the SLA outcomes. Per request (origin), at its
# raise: requests, open_requests, feedback; at its answer: answered. task_answered: a task's
# feedback latency at its answer (the secondary, per-task figure).
TASKS, OPEN, ROUTE, ACK, RESOLVE = "tasks", "open", "route", "ack", "resolve"
FEEDBACK_TASK, TASK_ANSWERED = "feedback_task", "task_answered"
ACK_MET, ACK_MISSED, RESOLVE_MET, RESOLVE_MISSED = "ack_met", "ack_missed", "res_met", "res_missed"
REQUESTS, OPEN_REQUESTS, FEEDBACK, ANSWERED = "requests", "open_requests", "feedback", "answered"


@dataclass(frozen=True)
class OriginFacts:
    """One request grouped into a task: where from, when raised, when its answer reached it."""

    source: str
    raised_at: datetime
    answered_at: datetime | None


@dataclass(frozen=True)
class TaskFacts:
    """What the figures read of a task and its requests."""

    task_id: str
    department: str
    team: str
    answered_by: str
    state: str
    raised_at: datetime
    routed_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    answered_at: datetime | None  # the answer's delivery to the asker (else its resolution)
    sla_due: datetime
    resolve_by: datetime | None
    origins: tuple[OriginFacts, ...]


@dataclass(frozen=True)
class Increment:
    """One count (``value`` None) or latency (seconds) the task adds to a measure."""

    measure: str
    at: datetime
    department: str
    team: str
    answered_by: str
    value: float | None = None


Key = tuple[str, str, str, str]  # measure, department, team, answered_by
RollupKey = tuple[str, datetime, str, str, str, str]  # grain, bucket, measure, dept, team, by


@dataclass
class Delta:
    """A change of one rollup row: how many more (or fewer) and their latency bins."""

    n: int = 0
    bins: Bins = field(default_factory=dict)
    # kept with a stored row (its bins need no reading), or computed once by ``summary``
    stats: LatencySummary | None = field(default=None, compare=False)

    def add(self, increment: Increment, sign: int) -> None:
        self.n += sign
        if increment.value is not None:
            add_value(self.bins, increment.value, sign)
        self.stats = None

    def merge(self, other: Delta, sign: int = 1) -> None:
        self.n += sign * other.n
        merge_bins(self.bins, other.bins, sign)
        self.stats = None

    def summary(self) -> LatencySummary:
        """The percentiles of the bins, computed once (a change forgets them): the window sums
        a reader keeps share their unchanged keys' summaries from one version to the next."""
        if self.stats is None:
            self.stats = summarize_bins(self.bins)
        return self.stats

    def is_empty(self) -> bool:
        return self.n == 0 and not self.bins


def _seconds(later: datetime, earlier: datetime) -> float:
    return max(0.0, (later - earlier).total_seconds())


def increments(task: TaskFacts) -> list[Increment]:
    """Every count and latency ``task`` adds to the figures."""
    return _task_increments(task) + [
        inc for origin in task.origins for inc in _origin_increments(task, origin)
    ]


def _task_increments(t: TaskFacts) -> list[Increment]:
    def at_raise(measure: str, value: float | None = None) -> Increment:
        return Increment(measure, t.raised_at, t.department, t.team, t.answered_by, value)

    out = [at_raise(TASKS), at_raise(ROUTE, _seconds(t.routed_at, t.raised_at))]
    if t.state in ACTIVE:
        out.append(at_raise(OPEN))
    if t.acknowledged_at is not None:
        out.append(at_raise(ACK, _seconds(t.acknowledged_at, t.raised_at)))
    out.extend(at_raise(m) for m in _sla_outcomes(t))
    if t.state == "resolved" and t.resolved_at is not None:
        out.append(at_raise(RESOLVE, _seconds(t.resolved_at, t.raised_at)))
        answered = t.answered_at or t.resolved_at
        latency = _seconds(answered, t.raised_at)
        out.append(at_raise(FEEDBACK_TASK, latency))
        out.append(Increment(TASK_ANSWERED, answered, t.department, t.team, t.answered_by, latency))
    return out


def _sla_outcomes(t: TaskFacts) -> list[str]:
    """Met or missed, for the deadlines already decided (an answer counts as acknowledged)."""
    closed = t.state not in ACTIVE
    acked = t.acknowledged_at or (t.resolved_at if closed else None)
    out = []
    if acked is not None:
        out.append(ACK_MET if acked <= t.sla_due else ACK_MISSED)
    if closed:
        deadline = t.resolve_by or t.sla_due
        met = t.state == "resolved" and t.resolved_at is not None and t.resolved_at <= deadline
        out.append(RESOLVE_MET if met else RESOLVE_MISSED)
    return out


def _origin_increments(t: TaskFacts, origin: OriginFacts) -> list[Increment]:
    department = asking_department(origin.source)

    def at(measure: str, when: datetime, value: float | None = None) -> Increment:
        return Increment(measure, when, department, t.team, t.answered_by, value)

    out = [at(REQUESTS, origin.raised_at)]
    if t.state in ACTIVE:
        out.append(at(OPEN_REQUESTS, origin.raised_at))
    if t.state == "resolved" and origin.answered_at is not None:
        latency = _seconds(origin.answered_at, origin.raised_at)
        out += [at(FEEDBACK, origin.raised_at, latency), at(ANSWERED, origin.answered_at, latency)]
    return out


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def day_of(at: datetime) -> datetime:
    """The start of ``at``'s day (UTC: the rollups' times are UTC)."""
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def bucket_of(grain: str, at: datetime) -> datetime:
    """The start of the ``grain`` bucket holding ``at``."""
    return day_of(at) if grain == DAY else hour_of(at) if grain == HOUR else ALL_TIME


def keys_of(inc: Increment) -> list[Key]:
    """The rollup keys an increment adds to: its own; for answers also per team and overall,
    for tasks raised also overall (the charts' totals: a row a bucket, not one a key)."""
    key = (inc.measure, inc.department, inc.team, inc.answered_by)
    total = (inc.measure, ANY, ANY, inc.answered_by)
    if inc.measure == TASKS:
        return [key, total]
    if inc.measure not in (ANSWERED, TASK_ANSWERED):
        return [key]
    return [key, (inc.measure, ANY, inc.team, inc.answered_by), total]


def is_total(key: Key) -> bool:
    """A row summed over departments or teams (``ANY``): never one of the per-key figures."""
    return key[1] == ANY or key[2] == ANY


def rollup_deltas(
    incs: Iterable[Increment], sign: int = 1, into: dict[RollupKey, Delta] | None = None
) -> dict[RollupKey, Delta]:
    """The increments summed per rollup row: their hour's, their day's and the all-time one."""
    out = {} if into is None else into
    for inc in incs:
        buckets = ((HOUR, hour_of(inc.at)), (DAY, day_of(inc.at)), (ALL, ALL_TIME))
        for key in keys_of(inc):
            for grain, bucket in buckets:
                out.setdefault((grain, bucket, *key), Delta()).add(inc, sign)
    return out


def diff(before: Iterable[TaskFacts], after: Iterable[TaskFacts]) -> dict[RollupKey, Delta]:
    """What the rollups gain when tasks change from ``before`` to ``after`` (none: no change)."""
    deltas: dict[RollupKey, Delta] = {}
    for task in after:
        rollup_deltas(increments(task), 1, deltas)
    for task in before:
        rollup_deltas(increments(task), -1, deltas)
    return {key: delta for key, delta in deltas.items() if not delta.is_empty()}
