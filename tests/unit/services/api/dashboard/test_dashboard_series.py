"""The overview's series: buckets, people's answers apart from the router's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.api.dashboard import series
from services.api.dashboard.render import duration, percent

NOW = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    raised_at: datetime
    routed_at: datetime
    resolved_at: datetime | None = None
    state: str = "open"
    feedback_latency_s: float | None = None


def answered(raised: datetime, after_s: float, *, by_router: bool = False) -> Row:
    done = raised + timedelta(seconds=after_s)
    routed = done if by_router else raised + timedelta(seconds=1)
    return Row(raised, routed, done, "resolved", after_s)


def test_the_window_ends_with_the_bucket_holding_now() -> None:
    start, width, slots = series.bounds("24h", NOW)
    assert (width, slots) == (3600, 24)
    assert start == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    assert start + timedelta(seconds=width * slots) > NOW


def test_unknown_windows_are_the_default() -> None:
    assert series.window_of("1y") == series.DEFAULT_WINDOW
    assert series.window_of(None) == series.DEFAULT_WINDOW


def test_rows_land_in_their_buckets() -> None:
    at = NOW - timedelta(hours=2, minutes=10)  # 08:20: the 08:00 bucket
    rows = [
        Row(at, at),
        answered(at, 600),
        answered(at, 1800),
        answered(at, 5, by_router=True),
        Row(NOW - timedelta(days=3), NOW - timedelta(days=3)),  # before the window
    ]
    got = series.series(rows, now=NOW, window="24h")
    slot = got.x.index(int(datetime(2026, 3, 2, 8, tzinfo=UTC).timestamp()))
    assert got.raised[slot] == 4
    assert sum(got.raised) == 4
    assert got.answered_human[slot] == 2  # 08:30 and 08:50
    assert got.answered_router[slot] == 1
    assert got.p50_s[slot] == 600
    assert got.p90_s[slot] == 1800
    assert got.chart("raised")[0] == got.x


def test_the_router_answer_is_the_one_resolved_when_routed() -> None:
    raised = NOW - timedelta(hours=1)
    assert series.answered_by(answered(raised, 60, by_router=True)) == "router"
    assert series.answered_by(answered(raised, 60)) == "human"
    assert series.answered_by(Row(raised, raised)) is None
    rows = [answered(raised, 60, by_router=True), answered(raised, 60), Row(raised, raised)]
    assert series.answer_split(rows) == {"human": 1, "router": 1}


def test_figures_read_as_people_do() -> None:
    assert [duration(v) for v in (None, 42, 303, 7800, 273600)] == [
        "–", "42s", "5m 3s", "2h 10m", "3d 4h",
    ]  # fmt: skip
    assert (percent(None), percent(0.955)) == ("–", "96%")
