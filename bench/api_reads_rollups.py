"""The bench's figure rollups, built in bulk from the generated rows, and the check that they
equal ``handoff stats rebuild``'s.

The production rebuild reads every task back (its row, its requests, its deliveries) in
chunks: about 1.2 ms a task, twenty minutes at a million. The generated tasks are already
in memory and have no deliveries, so their facts are known without reading: one pass feeds
them through the production tally (``increments`` and ``rollup_deltas``, the very functions
the rebuild uses), and the rows go in with COPY. ``verify`` proves the two agree.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Iterator
from typing import Any, Final

import sqlalchemy as sa

from services.api.models import ROLLUPS
from services.api.models.rollups import ALL
from services.api.rollups import (
    KEY_COLUMNS,
    VERSION,
    decode_bins,
    encode_bins,
    new_epoch,
    rebuild,
    task_facts,
)
from services.api.tally import (
    Delta,
    OriginFacts,
    RollupKey,
    TaskFacts,
    increments,
    rollup_deltas,
)
from services.core.stats import summarize_bins

ROW_COLUMNS: Final = (*KEY_COLUMNS, "n", "bins", "p50", "p90", "p99", "max")
TOLERANCE: Final = 1e-9  # float sums added in another order may differ in the last bits


def facts(task: dict[str, Any], origins: Iterable[dict[str, Any]]) -> TaskFacts:
    """What the rebuild's ``snapshot`` reads of a generated task (no deliveries: an answer
    reaches its askers when the task is resolved)."""
    resolved = task["resolved_at"]
    asked = tuple(OriginFacts(o["source"], o["raised_at"], resolved) for o in origins)
    own = (OriginFacts(task["source"], task["raised_at"], resolved),)
    return task_facts(task, asked or own, answered_at=resolved)


def deltas(pairs: Iterable[tuple[dict[str, Any], list[dict[str, Any]]]]) -> dict[RollupKey, Delta]:
    """Every rollup row's sums over the tasks (each with its requests)."""
    out: dict[RollupKey, Delta] = {}
    for task, origins in pairs:
        rollup_deltas(increments(facts(task, origins)), 1, out)
    return out


def row(key: RollupKey, delta: Delta) -> tuple[Any, ...]:
    """A rollup row as the rebuild writes it (percentiles kept with the all-time rows)."""
    stats = summarize_bins(delta.bins) if key[0] == ALL and delta.bins else None
    kept = (stats.p50, stats.p90, stats.p99, stats.max) if stats else (None,) * 4
    return (*key, delta.n, encode_bins(delta), *kept)


def rows(sums: dict[RollupKey, Delta], version: int) -> Iterator[tuple[Any, ...]]:
    for key in sorted(sums):
        if sums[key].n or sums[key].bins:
            yield row(key, sums[key])
    yield (*VERSION, version, new_epoch(), None, None, None, None)  # as the rebuild writes it


def write(conn: sa.Connection, sums: dict[RollupKey, Delta]) -> int:
    """Replace the rollups with ``sums`` (COPY on PostgreSQL); rows written."""
    conn.execute(ROLLUPS.delete())
    out = list(rows(sums, secrets.randbits(30)))
    if conn.dialect.name != "postgresql":
        conn.execute(ROLLUPS.insert(), [dict(zip(ROW_COLUMNS, r, strict=True)) for r in out])
        return len(out)
    raw: Any = conn.connection.driver_connection
    statement = f"COPY {ROLLUPS.name} ({', '.join(ROW_COLUMNS)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for values in out:
            copy.write_row(values)
    return len(out)


# --- the proof: the same rows as the production rebuild --------------------------------------


def stored(conn: sa.Connection) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The rollup rows by key, the version row left out (it is random by design)."""
    key_columns = [ROLLUPS.c[name] for name in KEY_COLUMNS]
    rest = [ROLLUPS.c[name] for name in ROW_COLUMNS[len(KEY_COLUMNS) :]]
    found = conn.execute(sa.select(*key_columns, *rest)).all()
    return {tuple(r[:6]): tuple(r[6:]) for r in found if tuple(r[:6]) != VERSION}


def same(ours: tuple[Any, ...], theirs: tuple[Any, ...]) -> bool:
    """Counts equal; bin sums and percentiles equal to the last bits."""
    n, bins, *kept = ours
    n2, bins2, *kept2 = theirs
    return n == n2 and _same_bins(bins, bins2) and all(map(_close, kept, kept2))


def _same_bins(ours: str | None, theirs: str | None) -> bool:
    a, b = decode_bins(ours), decode_bins(theirs)
    return a.keys() == b.keys() and all(a[i][0] == b[i][0] and _close(a[i][1], b[i][1]) for i in a)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=1e-6)


def differences(ours: dict[Any, Any], theirs: dict[Any, Any]) -> list[str]:
    """Each key whose row differs or is missing on one side (none: the two agree)."""
    keys = sorted(ours.keys() | theirs.keys(), key=repr)
    return [
        f"{key}: bench {ours.get(key)} != rebuild {theirs.get(key)}"
        for key in keys
        if key not in ours or key not in theirs or not same(ours[key], theirs[key])
    ]


def verify(conn: sa.Connection, sums: dict[RollupKey, Delta]) -> tuple[int, list[str]]:
    """Write ``sums``, read them back, then rebuild from the task rows as production does;
    (rows compared, differences). Leaves the production rebuild's rows in place."""
    write(conn, sums)
    ours = stored(conn)
    rebuild(conn)
    theirs = stored(conn)
    return len(theirs), differences(ours, theirs)
