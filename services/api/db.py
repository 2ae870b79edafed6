"""The API's database: the writes the projector makes, engines, migrations.

The tables live in :mod:`services.api.models` (one module per subject) and are
re-exported here. SQLite (the zero-setup default) and PostgreSQL are both
first-class: every datetime goes through :class:`UtcDateTime`, so it comes back
timezone-aware UTC on either, and inserts use each dialect's ``ON CONFLICT DO
NOTHING``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from services.api.lifecycle import ACTIVE
from services.api.models import (
    DELIVERIES,
    OPEN,
    ORIGIN_UPDATES,
    ORIGINS,
    RESOLVED,
    STATES,
    TASK_EVENTS,
    TASK_ID_PATTERN,
    TASK_ID_RE,
    TASKS,
    ApiToken,
    Base,
    Callback,
    Delivery,
    DeliveryAttempt,
    OriginUpdate,
    Task,
    TaskEvent,
    TaskOrigin,
    UtcDateTime,
    origins_of,
)

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"

__all__ = [
    "DELIVERIES",
    "MIGRATIONS_DIR",
    "OPEN",
    "ORIGINS",
    "ORIGIN_UPDATES",
    "RESOLVED",
    "STATES",
    "TASKS",
    "TASK_EVENTS",
    "TASK_ID_PATTERN",
    "TASK_ID_RE",
    "ApiToken",
    "Base",
    "Callback",
    "Delivery",
    "DeliveryAttempt",
    "OriginUpdate",
    "Task",
    "TaskEvent",
    "TaskOrigin",
    "UtcDateTime",
    "alembic_config",
    "current_revision",
    "downgrade",
    "follow_reroute",
    "grow_group",
    "head_revision",
    "insert_delivery_if_absent",
    "insert_origin_if_absent",
    "insert_origin_update_if_absent",
    "insert_task_event",
    "insert_task_if_absent",
    "make_engine",
    "origins_of",
    "string_limits",
    "touch_tasks_of",
    "upgrade",
]


def string_limits(table: sa.Table | None = None) -> dict[str, int]:
    """Column name -> the most characters it holds, for the bounded string columns."""
    return {
        column.name: column.type.length
        for column in (table if table is not None else TASKS).columns
        if isinstance(column.type, sa.String) and column.type.length is not None
    }


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; a SQLite file gets its folder created, WAL and a busy timeout."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True, **kwargs)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": 15.0}, **kwargs)
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads alone, in autocommit: no BEGIN before its first statement
    and no ROLLBACK when it goes back to the pool, two round trips fewer a request (each
    statement sees what was committed when it began, as under READ COMMITTED). SQLite
    has no round trips to save, and its connection may be shared: as it is."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def insert_task_if_absent(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert ``row`` unless a task with its id (or source event) exists; True if inserted."""
    return _insert_if_absent(conn, TASKS, row, TASKS.c.task_id)


def insert_origin_if_absent(conn: Connection, row: dict[str, Any]) -> bool:
    """Record one of a task's origins unless it is recorded; True if inserted."""
    return _insert_if_absent(conn, ORIGINS, row, ORIGINS.c.event_id)


def insert_origin_update_if_absent(conn: Connection, row: dict[str, Any]) -> bool:
    """Record a change to a request unless it is recorded (by its event id); True if inserted."""
    return _insert_if_absent(conn, ORIGIN_UPDATES, row, ORIGIN_UPDATES.c.event_id)


def insert_delivery_if_absent(conn: Connection, row: dict[str, Any]) -> bool:
    """Owe a delivery unless it is owed already (by its id); True if inserted."""
    return _insert_if_absent(conn, DELIVERIES, row, DELIVERIES.c.delivery_id)


def _insert_if_absent(
    conn: Connection, table: sa.Table, row: dict[str, Any], key: sa.Column[Any]
) -> bool:
    # RETURNING, not rowcount: drivers need not report a rowcount for INSERT.
    return (
        conn.execute(_insert_unless_present(conn.dialect.name, table, key), row).first() is not None
    )


@functools.cache
def _insert_unless_present(dialect: str, table: sa.Table, key: sa.Column[Any]) -> Any:
    """One statement per table, its row given as parameters: building it with ``values(row)``
    for every row (coercing each value, a cache key over them) was half the cost of
    projecting a task (issue 15, target 6)."""
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
    else:
        raise NotImplementedError(f"database dialect {dialect!r} is not supported")
    return stmt.on_conflict_do_nothing().returning(key)


def insert_task_event(conn: Connection, entry: dict[str, Any]) -> None:
    """Add one entry to a task's timeline."""
    conn.execute(TASK_EVENTS.insert(), entry)


def grow_group(conn: Connection, row: Mapping[str, Any]) -> bool:
    """A later ``task.routed`` of a stored task with more grouped events: keep the larger group."""
    smaller = sa.update(TASKS).where(
        TASKS.c.task_id == row["task_id"], TASKS.c.event_count < row["event_count"]
    )
    grow = smaller.values({name: row[name] for name in ("event_count", "event_ids", "summary")})
    return bool(conn.execute(grow).rowcount)


def follow_reroute(conn: Connection, row: Mapping[str, Any]) -> bool:
    """The router's ``task.routed`` after a reassignment or a reopen: the deadlines from then.

    Only while the task is still with that team and open: a later handover
    (or a close) wins over a late event.
    """
    moved = conn.execute(
        sa.update(TASKS)
        .where(
            TASKS.c.task_id == row["task_id"],
            TASKS.c.team == row["team"],
            TASKS.c.state.in_(sorted(ACTIVE)),
        )
        .values(
            sla_due=row["sla_due"],
            acknowledge_by=row["acknowledge_by"],
            resolve_by=row.get("resolve_by"),
        )
    )
    return bool(moved.rowcount)


def touch_tasks_of(conn: Connection, origin_event_id: str, at: datetime) -> int:
    """Mark every task the request is in as changed at ``at``; how many there are."""
    of_origin = sa.select(ORIGINS.c.task_id).where(ORIGINS.c.event_id == origin_event_id)
    its_tasks = sa.or_(TASKS.c.task_id.in_(of_origin), TASKS.c.source_event_id == origin_event_id)
    touch = sa.update(TASKS).where(its_tasks).values(updated_at=at)
    return int(conn.execute(touch).rowcount)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's config built in code: no alembic.ini and no reliance on the working directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the migrations to ``url`` up to ``revision`` (the newest by default)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    """Undo migrations on ``url`` down to ``revision`` (``"base"``: an empty schema)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest migration's revision id."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(url: str) -> str | None:
    """The revision ``url`` is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
