"""The figures, read from the rollups: feedback latency, figures per key, who waits on whom.

Plain functions with typed results, shared by the ``/v1/stats`` routes and the
dashboard. Keys are asking department (the request's source's) x answering
team x answered_by (``team``: people; ``router``: the router's instant answers).
Percentiles come from fixed log-spaced bins: within 1.01 % of the exact
nearest-rank value (see ``services.core.stats.GROWTH``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Generic, TypeVar, cast

import sqlalchemy as sa

from services.api import deadlines
from services.api.active_kept import Pair, Standing
from services.api.deadlines import AT_RISK
from services.api.flights import Flights
from services.api.rollup_reads import Sums, Window, get, read_rollups
from services.api.rollups import stamp
from services.api.tally import (
    ACK,
    ACK_MET,
    ACK_MISSED,
    ANSWERED,
    ANY,
    FEEDBACK,
    FEEDBACK_TASK,
    OPEN,
    OPEN_REQUESTS,
    REQUESTS,
    RESOLVE,
    RESOLVE_MET,
    RESOLVE_MISSED,
    ROUTE,
    ROUTER,
    TASK_ANSWERED,
    TEAM,
    Key,
    is_total,
)
from services.api.tally import TASKS as TASK_COUNT
from services.core.stats import LatencySummary

# --- a cache per version of the rollups ----------------------------------------------------

T = TypeVar("T")
CACHE_SIZE: Final = 256
_cache: dict[tuple[Any, ...], Any] = {}
flights = Flights()  # the bench swaps it for cold reads


def cached(
    conn: sa.Connection,
    key: tuple[Any, ...],
    compute: Callable[[], T],
    fresh: Callable[[T], bool] = lambda _: True,
) -> T:
    """``compute()``, once per version of this database's rollups (and while ``fresh``): every
    change of them moves the version on, so a reader never gets figures older than the
    version it read first. Readers asking at once share one computation (``flights``)."""
    full = (str(conn.engine.url), *stamp(conn), *key)

    def kept_or_computed() -> T:
        if full in _cache and fresh(_cache[full]):  # a flight that just landed
            return cast(T, _cache[full])
        value = compute()
        if len(_cache) >= CACHE_SIZE:
            _cache.clear()
        _cache[full] = value
        return value

    if full in _cache and fresh(_cache[full]):
        return cast(T, _cache[full])
    return flights.run(full, kept_or_computed)


# --- feedback latency -----------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackLatency:
    """Feedback latency per asker (request) of the answers given in a window.

    ``overall`` and ``teams``: answers by people (the headline); ``router`` and
    ``router_teams``: the router's own instant answers; ``per_task``: one value
    per task answered by people (secondary).
    """

    overall: LatencySummary
    teams: dict[str, LatencySummary]
    router: LatencySummary
    router_teams: dict[str, LatencySummary]
    per_task: LatencySummary


def feedback_latency(
    conn: sa.Connection, *, team: str | None = None, since: datetime | None = None
) -> FeedbackLatency:
    """Answers delivered at or after ``since`` (all time without), optionally one team's."""
    return cached(conn, ("latency", team, since), lambda: _feedback_latency(conn, team, since))


def _feedback_latency(
    conn: sa.Connection, team: str | None, since: datetime | None
) -> FeedbackLatency:
    window = Window(since=since, team=team, department=ANY)
    sums = read_rollups(conn, (ANSWERED, TASK_ANSWERED), window)
    overall = team or ANY
    return FeedbackLatency(
        overall=get(sums, ANSWERED, ANY, overall, TEAM).summary(),
        teams=_per_team(sums, TEAM),
        router=get(sums, ANSWERED, ANY, overall, ROUTER).summary(),
        router_teams=_per_team(sums, ROUTER),
        per_task=get(sums, TASK_ANSWERED, ANY, overall, TEAM).summary(),
    )


def _per_team(sums: Sums, answered_by: str) -> dict[str, LatencySummary]:
    keys = sorted(k for k in sums if k[0] == ANSWERED and k[2] != ANY and k[3] == answered_by)
    found = {k[2]: sums[k].summary() for k in keys}
    return {team: summary for team, summary in found.items() if summary.count}


# --- figures per asking department x team x answered_by -------------------------------------

FIGURE_MEASURES = (
    TASK_COUNT, REQUESTS, FEEDBACK, FEEDBACK_TASK, ROUTE, ACK, RESOLVE,
    ACK_MET, ACK_MISSED, RESOLVE_MET, RESOLVE_MISSED,
)  # fmt: skip


@dataclass(frozen=True)
class Figures:
    """One asking department's requests to one team, answered by people or by the router."""

    department: str
    team: str
    answered_by: str
    tasks: int
    requests: int
    feedback_latency: LatencySummary  # per request (asker): raised -> answer delivered
    feedback_latency_per_task: LatencySummary
    time_to_route: LatencySummary
    time_to_acknowledge: LatencySummary
    time_to_resolve: LatencySummary
    acknowledged_in_time: float | None  # of the acknowledge deadlines decided by now
    resolved_in_time: float | None  # of the resolve deadlines decided by now


def figures(
    conn: sa.Connection,
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    team: str | None = None,
    department: str | None = None,
) -> list[Figures]:
    """Requests raised in [since, until): one :class:`Figures` per key, sorted."""
    window = Window(since, until, team, department)
    found = cached(
        conn,
        ("figures", window),
        lambda: Timed(_figures_of(conn, now, window), now, deadlines.next_deadline(conn, now)),
        fresh=lambda timed: timed.holds(now),
    )
    return found.value


@dataclass(frozen=True)
class Timed(Generic[T]):
    """Figures as of ``since``, and until when they hold: the next deadline of an open task
    (the open tasks past a deadline count as missed)."""

    value: T
    since: datetime
    until: datetime

    def holds(self, now: datetime) -> bool:
        return self.since <= now < self.until


def _figures_of(
    conn: sa.Connection, now: datetime, window: Window, sums: Sums | None = None
) -> list[Figures]:
    sums = read_rollups(conn, FIGURE_MEASURES, window) if sums is None else sums
    overdue = deadlines.overdue(conn, now, window)
    keys = sorted({(k[1], k[2], k[3]) for k in _per_key(sums)} | set(overdue))
    return [_figures(sums, key, overdue.get(key, (0, 0))) for key in keys]


def _per_key(sums: Sums) -> list[Key]:
    """The keys with tasks or requests: one per asking department x team x answered_by, the
    totals kept for the charts (department or team ``ANY``) left out, never counted twice."""
    return [k for k in sums if k[0] in (TASK_COUNT, REQUESTS) and not is_total(k)]


def _figures(sums: Sums, key: Pair, overdue: tuple[int, int]) -> Figures:
    department, team, by = key

    def of(measure: str) -> LatencySummary:
        return get(sums, measure, department, team, by).summary()

    def n(measure: str) -> int:
        return get(sums, measure, department, team, by).n

    return Figures(
        department=department,
        team=team,
        answered_by=by,
        tasks=n(TASK_COUNT),
        requests=n(REQUESTS),
        feedback_latency=of(FEEDBACK),
        feedback_latency_per_task=of(FEEDBACK_TASK),
        time_to_route=of(ROUTE),
        time_to_acknowledge=of(ACK),
        time_to_resolve=of(RESOLVE),
        acknowledged_in_time=_share(n(ACK_MET), n(ACK_MISSED) + overdue[0]),
        resolved_in_time=_share(n(RESOLVE_MET), n(RESOLVE_MISSED) + overdue[1]),
    )


def _share(met: int, missed: int) -> float | None:
    return None if met + missed == 0 else met / (met + missed)


# --- who waits on whom ----------------------------------------------------------------------

WAIT_MEASURES = (TASK_COUNT, OPEN, OPEN_REQUESTS, REQUESTS, FEEDBACK)


@dataclass(frozen=True)
class Waiting:
    """One asking department waiting on one team: open work, and how long answers take."""

    department: str
    team: str
    open: int  # open tasks
    open_requests: int  # open requests (a task grouping four tickets: four)
    median_feedback_latency_s: float | None  # per request, answers by people
    p90_feedback_latency_s: float | None
    answered: int  # requests answered by people
    router_answered: int  # requests the router answered itself
    router_median_feedback_latency_s: float | None


def who_waits(
    conn: sa.Connection, *, since: datetime | None = None, until: datetime | None = None
) -> list[Waiting]:
    """For each asking department x answering team with requests raised in the window."""
    return cached(conn, ("who", since, until), lambda: _who_waits(conn, Window(since, until)))


def _who_waits(conn: sa.Connection, window: Window, sums: Sums | None = None) -> list[Waiting]:
    sums = read_rollups(conn, WAIT_MEASURES, window) if sums is None else sums
    pairs = sorted({(k[1], k[2]) for k in _per_key(sums)})
    return [_waiting(sums, department, team) for department, team in pairs]


def _waiting(sums: Sums, department: str, team: str) -> Waiting:
    def of(measure: str, by: str) -> LatencySummary:
        return get(sums, measure, department, team, by).summary()

    def n(measure: str) -> int:
        return sum(get(sums, measure, department, team, by).n for by in (TEAM, ROUTER))

    people, router = of(FEEDBACK, TEAM), of(FEEDBACK, ROUTER)
    return Waiting(
        department=department,
        team=team,
        open=n(OPEN),
        open_requests=n(OPEN_REQUESTS),
        median_feedback_latency_s=people.p50,
        p90_feedback_latency_s=people.p90,
        answered=people.count,
        router_answered=router.count,
        router_median_feedback_latency_s=router.p50,
    )


def window_figures(
    conn: sa.Connection, *, now: datetime, since: datetime
) -> tuple[list[Figures], list[Waiting]]:
    """``figures`` and ``who_waits`` since ``since`` from one read of the rollups (the
    overview's: the feedback latency bins they share are decoded once), uncached."""
    window = Window(since)
    measures = tuple(dict.fromkeys(FIGURE_MEASURES + WAIT_MEASURES))
    sums = read_rollups(conn, measures, window)
    return _figures_of(conn, now, window, sums), _who_waits(conn, window, sums)


# --- SLA standing of the active tasks -------------------------------------------------------


def sla_standing(conn: sa.Connection, *, now: datetime, at_risk: timedelta = AT_RISK) -> Standing:
    """Active tasks per team whose ``sla_due`` has passed (breached), comes within
    ``at_risk`` (at_risk), or not (ok): the Prometheus gauge's split, read from the active
    tasks' index alone, and kept until a deadline moves a task across a line (or a task
    changes: the rollups' version moves on)."""
    found = cached(
        conn,
        ("standing", at_risk),
        lambda: Timed(
            deadlines.standing(conn, now, at_risk), now, deadlines.holds_until(conn, now, at_risk)
        ),
        fresh=lambda timed: timed.holds(now),
    )
    return found.value
