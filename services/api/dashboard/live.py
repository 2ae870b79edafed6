"""Live pages: a server-sent event whenever what the pages show may have changed.

Each open page holds one ``GET /dashboard/events`` stream; the stream looks at
the tasks once a second (the newest ``updated_at`` and timeline row, both
indexed, so the look is cheap at any size) and sends ``change`` when they
moved — a task routed, answered, commented — or when an active task's
deadline or at-risk mark passed since the last look (an SLA signal). The page
then fetches itself again (htmx's SSE extension).

A stream ends after ``LIFETIME_S`` and the browser reconnects a second later:
the server waits for open responses when it shuts down, so a stream must not
outlive a deploy's grace period. Nothing is missed across the reconnect: every
stream starts by sending what it saw as the event id, the browser sends it back
(``Last-Event-ID``), and a new stream that sees something else says ``change``
at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import anyio
import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool

from services.api.db import Task, TaskEvent
from services.api.deps import ApiContext
from services.api.lifecycle import ACTIVE

POLL_S: Final = 1.0
LIFETIME_S: Final = 20.0
AT_RISK: Final = timedelta(hours=1)


def _latest(conn: sa.Connection) -> tuple[Any, Any]:
    updated = conn.scalar(sa.select(sa.func.max(Task.updated_at)))
    entry = conn.scalar(sa.select(sa.func.max(TaskEvent.id)))
    return updated, entry


def _next_deadline(conn: sa.Connection, now: datetime) -> datetime | None:
    """The next moment an active task turns at risk or breached (None: no such task)."""
    active = Task.state.in_(sorted(ACTIVE))
    due = conn.scalar(sa.select(sa.func.min(Task.sla_due)).where(active, Task.sla_due > now))
    warn = conn.scalar(
        sa.select(sa.func.min(Task.sla_due)).where(active, Task.sla_due > now + AT_RISK)
    )
    found = [t for t in (due, warn - AT_RISK if warn is not None else None) if t is not None]
    return min(found) if found else None


def token(latest: tuple[Any, Any], deadline: datetime | None) -> str:
    """What a look saw (and the deadline it waits for), as an event id the browser hands
    back when it reconnects: a new stream that sees another one missed something."""
    stamps = [*latest, deadline]
    return "|".join(s.isoformat() if isinstance(s, datetime) else str(s) for s in stamps)


@dataclass
class Watch:
    """What the last look saw (or the browser's last stream saw), the next deadline."""

    api: ApiContext
    seen: tuple[Any, Any] | None = None
    deadline: datetime | None = None
    resumed: str | None = None  # Last-Event-ID: what the browser's previous stream saw

    def changed(self) -> bool:
        """Look once; True if something moved since the last look (the first look: only
        if it differs from what the previous stream saw)."""
        now = self.api.clock()
        with self.api.engine.connect() as conn:
            latest = _latest(conn)
            passed = self.deadline is not None and self.deadline <= now
            moved = self.seen is not None and (latest != self.seen or passed)
            if self.seen is None or moved:
                self.deadline = _next_deadline(conn, now)
        if self.seen is None:
            moved = self.resumed is not None and self.resumed != token(latest, self.deadline)
        self.seen = latest
        return moved

    @property
    def token(self) -> str:
        return token(self.seen, self.deadline) if self.seen is not None else ""


def event(name: str, data: dict[str, Any], event_id: str | None = None) -> str:
    """One server-sent event, as the EventSource parser reads it."""
    identity = f"id: {event_id}\n" if event_id is not None else ""
    return f"{identity}event: {name}\ndata: {json.dumps(data)}\n\n"


async def changes(
    api: ApiContext,
    disconnected: Callable[[], Awaitable[bool]],
    *,
    resumed: str | None = None,
    poll_s: float = POLL_S,
    lifetime_s: float = LIFETIME_S,
) -> AsyncIterator[str]:
    """The stream a page listens to: ``change`` events (each with what it saw as its id)."""
    watch = Watch(api, resumed=resumed)
    moved = await run_in_threadpool(watch.changed)
    yield f"retry: 1000\nid: {watch.token}\n\n"
    if moved:
        yield event("change", {"at": api.clock().isoformat()}, watch.token)
    started = time.monotonic()
    while time.monotonic() - started < lifetime_s and not await disconnected():
        await anyio.sleep(poll_s)
        if await run_in_threadpool(watch.changed):
            yield event("change", {"at": api.clock().isoformat()}, watch.token)
