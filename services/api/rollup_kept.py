"""A window's sums of whole rollup rows, kept per window and patched by what changed.

At a million tasks a window reads tens of thousands of rollup rows (a 30-day overview about
115,000), and every task change moves the rollups' version on. Instead of summing them all
again, the sums read at version N are kept; at a later version only the keys whose rows
changed after N (``changed_in``, migration 0014) are read again, over the whole window.
Sums read in another epoch (a rebuild, a new database behind the same URL) are read whole.

Reading the version before the rows keeps this safe when a writer commits in between: rows
newer than the version they are kept with are read again at the next version, and a key
read again is replaced whole, never added twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa

from services.api.models import ROLLUPS
from services.api.models.rollups import HOUR
from services.api.rollups import stamp
from services.api.tally import Delta, Key

Sums = dict[Key, Delta]
Read = Callable[[Collection[Key] | None], Sums]  # the window's sums: every key, or these
MAX_PATCH_KEYS: Final = 2000  # more keys changed than this: the window is read whole
# What is kept, least recently used first out: a bin costs about 70 bytes here, and at a
# million tasks the overview's 30-day window holds about a million of them (7 days: 400,000)
KEPT_BINS: Final = 2_500_000


@dataclass(frozen=True)
class _Kept:
    version: int
    epoch: str | None
    sums: Sums
    size: int  # keys and bins: what it costs to keep


_kept: dict[tuple[Any, ...], _Kept] = {}
_lock = threading.Lock()
stats = {"full": 0, "patched": 0, "kept": 0}  # how reads were served (tests, bench)


def kept_sums(
    conn: sa.Connection,
    key: tuple[Any, ...],
    measures: Sequence[str],
    filters: Sequence[sa.ColumnElement[bool]],
    read: Read,
    hour: datetime | None = None,
) -> Sums:
    """The sums ``read`` gives, kept under ``key`` per database; never to be changed in place.

    ``hour``: the sums are a partial hour's, read from the task rows (not patchable per
    key): kept while no rollup row of that hour changed, else read again. Every change of a
    count or latency at a time in the hour changes one of its rows (a time that moves moves
    its latency with it)."""
    version, epoch = stamp(conn)
    full_key = (str(conn.engine.url), *key)
    with _lock:
        kept = _kept.pop(full_key, None)
        if kept is not None:
            _kept[full_key] = kept  # the most recently used, last out
    if kept is not None and kept.epoch == epoch and kept.version == version:
        stats["kept"] += 1
        return kept.sums
    changed = None
    if kept is not None and kept.epoch == epoch and kept.version < version:
        if hour is None:
            changed = changed_keys(conn, kept.version, measures, filters)
        elif not hour_changed(conn, kept.version, hour, measures, filters):
            changed = set()
    if kept is None or changed is None:
        stats["full"] += 1
        sums = read(None)
    elif not changed:  # nothing of these sums changed: the very object, kept on
        stats["patched"] += 1
        sums = kept.sums
    else:
        stats["patched"] += 1
        sums = {k: delta for k, delta in kept.sums.items() if k not in changed}
        sums.update(read(changed))
    if kept is not None and sums is kept.sums:
        size = kept.size  # the very sums kept on: counted when they were read
    else:
        size = len(sums) + sum(len(delta.bins) for delta in sums.values())
    _keep(full_key, _Kept(version, epoch, sums, size))
    return sums


def _keep(full_key: tuple[Any, ...], kept: _Kept) -> None:
    with _lock:
        was = _kept.get(full_key)
        if was is not None and was.epoch == kept.epoch and was.version > kept.version:
            return  # another reader kept a later version already
        _kept.pop(full_key, None)
        if kept.size > KEPT_BINS:
            return
        while _kept and sum(k.size for k in _kept.values()) + kept.size > KEPT_BINS:
            _kept.pop(next(iter(_kept)))  # the least recently used
        _kept[full_key] = kept


def changed_keys(
    conn: sa.Connection,
    after: int,
    measures: Sequence[str],
    filters: Sequence[sa.ColumnElement[bool]],
) -> set[Key] | None:
    """The keys with a row of ``measures`` changed after version ``after`` (None: too many)."""
    r = ROLLUPS.c
    query = (
        sa.select(r.measure, r.department, r.team, r.answered_by)
        .where(r.changed_in > after, r.measure.in_(measures), *filters)
        .distinct()
        .limit(MAX_PATCH_KEYS + 1)
    )
    found = {(str(m), str(d), str(t), str(b)) for m, d, t, b in conn.execute(query)}
    return None if len(found) > MAX_PATCH_KEYS else found


def kept_size() -> int:
    """Keys and bins kept now (at most ``KEPT_BINS``)."""
    with _lock:
        return sum(kept.size for kept in _kept.values())


def hour_changed(
    conn: sa.Connection,
    after: int,
    hour: datetime,
    measures: Sequence[str],
    filters: Sequence[sa.ColumnElement[bool]],
) -> bool:
    """Whether a row of ``measures`` for ``hour`` changed after version ``after``."""
    r = ROLLUPS.c
    query = (
        sa.select(r.measure)
        .where(r.changed_in > after, r.grain == HOUR, r.bucket == hour)
        .where(r.measure.in_(measures), *filters)
        .limit(1)
    )
    return conn.execute(query).first() is not None


def forget() -> None:
    """Keep nothing (tests; the bench's cache misses)."""
    with _lock:
        _kept.clear()
