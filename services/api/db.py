"""The API's database: its tables, the writes the projector makes, engines, migrations.

SQLite (the zero-setup default) and PostgreSQL are both first-class: every
datetime goes through :class:`UtcDateTime`, so it comes back timezone-aware
UTC on either, and inserts use each dialect's ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from schemas.events import TaskState
from services.api.lifecycle import ACTIVE

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"

OPEN: Final = TaskState.OPEN.value
RESOLVED: Final = TaskState.RESOLVED.value
STATES: Final[tuple[str, ...]] = tuple(state.value for state in TaskState)
STATE_CHECK: Final = "state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")"

# A task id must be usable in a URL path as is; derived ids (uuid5) always are.
TASK_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
TASK_ID_RE: Final = re.compile(TASK_ID_PATTERN)

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime stored as UTC; read back aware UTC on every dialect.

    SQLite keeps no offset, so the value is stored as naive UTC there (a fixed
    format string, which also sorts correctly). Naive input is refused.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} (a timezone is required)")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class Task(Base):
    """One routed task, as a team sees it, and its answer once resolved."""

    __tablename__ = "tasks"
    __table_args__ = (
        sa.CheckConstraint(STATE_CHECK, name="state"),
        sa.Index("ix_tasks_team_state_raised_at", "team", "state", "raised_at"),
        sa.Index("ix_tasks_account", "account"),
        sa.Index("ix_tasks_updated_at", "updated_at"),
    )

    task_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    source_event_id: Mapped[str] = mapped_column(sa.String(256), unique=True)
    source: Mapped[str] = mapped_column(sa.String(512))
    team: Mapped[str] = mapped_column(sa.String(64))
    rule: Mapped[str] = mapped_column(sa.String(512))
    account: Mapped[str] = mapped_column(sa.String(320))
    priority: Mapped[str] = mapped_column(sa.String(16))
    component: Mapped[str | None] = mapped_column(sa.String(64))
    subject: Mapped[str] = mapped_column(sa.Text)
    description: Mapped[str] = mapped_column(sa.Text)
    requester_email: Mapped[str] = mapped_column(sa.String(320))
    state: Mapped[str] = mapped_column(sa.String(16), default=OPEN)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    routed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sla_due: Mapped[datetime] = mapped_column(UtcDateTime)
    projected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolution: Mapped[str | None] = mapped_column(sa.Text)
    feedback_latency_s: Mapped[float | None] = mapped_column(sa.Float)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    department: Mapped[str | None] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    feedback_delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledge_by: Mapped[datetime | None] = mapped_column(UtcDateTime)
    event_count: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")
    event_ids: Mapped[str | None] = mapped_column(sa.Text)  # JSON list: the grouped events
    summary: Mapped[str | None] = mapped_column(sa.Text)


class TaskOrigin(Base):
    """One request grouped into a task, as its origin knows it: where the answer goes back."""

    __tablename__ = "task_origins"

    task_id: Mapped[str] = mapped_column(
        sa.String(128), sa.ForeignKey("tasks.task_id"), primary_key=True
    )
    event_id: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(512))
    ref: Mapped[str | None] = mapped_column(sa.String(128))  # e.g. the Zendesk ticket id
    requester_email: Mapped[str] = mapped_column(sa.String(320))
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OriginUpdate(Base):
    """A change the asker made to a request already routed (a comment, a priority), as
    their tool reported it; it belongs to every task the request is in."""

    __tablename__ = "origin_updates"
    __table_args__ = (sa.Index("ix_origin_updates_origin_event_id_at", "origin_event_id", "at"),)

    event_id: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    origin_event_id: Mapped[str] = mapped_column(sa.String(256))
    source: Mapped[str] = mapped_column(sa.String(512))
    ref: Mapped[str] = mapped_column(sa.String(128))
    change: Mapped[str] = mapped_column(sa.String(16))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    public: Mapped[bool | None] = mapped_column(sa.Boolean)
    priority: Mapped[str | None] = mapped_column(sa.String(16))
    previous_priority: Mapped[str | None] = mapped_column(sa.String(16))
    status: Mapped[str | None] = mapped_column(sa.Text)
    previous_status: Mapped[str | None] = mapped_column(sa.Text)
    requester_email: Mapped[str] = mapped_column(sa.String(320))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    projected_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TaskEvent(Base):
    """One row of a task's timeline: a transition or a comment, as published."""

    __tablename__ = "task_events"
    __table_args__ = (sa.Index("ix_task_events_task_id_seq", "task_id", "seq"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(sa.String(128), sa.ForeignKey("tasks.task_id"))
    seq: Mapped[int] = mapped_column(sa.Integer)
    event_id: Mapped[str] = mapped_column(sa.String(256), unique=True)
    type: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(sa.String(128))
    from_state: Mapped[str] = mapped_column(sa.String(16))
    to_state: Mapped[str] = mapped_column(sa.String(16))
    team: Mapped[str] = mapped_column(sa.String(64))
    message: Mapped[str | None] = mapped_column(sa.Text)


class ApiToken(Base):
    """An API token, stored as its SHA-256; the token itself is shown once at creation."""

    __tablename__ = "api_tokens"

    token_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    team: Mapped[str | None] = mapped_column(sa.String(64))
    scope: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Callback(Base):
    """Where a source system wants its tasks' updates: URL, signing secret, body shape."""

    __tablename__ = "callbacks"

    source: Mapped[str] = mapped_column(sa.String(512), primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(2048))
    secret: Mapped[str] = mapped_column(sa.String(256))
    format: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Delivery(Base):
    """One update owed to an origin; ``delivery_id`` is its idempotency key."""

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        sa.Index("ix_deliveries_task_id", "task_id"),
    )

    delivery_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(sa.String(128), sa.ForeignKey("tasks.task_id"))
    event_id: Mapped[str] = mapped_column(sa.String(256))
    source: Mapped[str] = mapped_column(sa.String(512))
    task_state: Mapped[str] = mapped_column(sa.String(16))
    url: Mapped[str] = mapped_column(sa.String(2048))
    body: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    origin_event_id: Mapped[str | None] = mapped_column(sa.String(256))
    origin_ref: Mapped[str | None] = mapped_column(sa.String(128))


class DeliveryAttempt(Base):
    """One attempt at a delivery: when, the HTTP status, how long, what failed."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (sa.Index("ix_delivery_attempts_delivery_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("deliveries.delivery_id"))
    attempt: Mapped[int] = mapped_column(sa.Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    latency_s: Mapped[float] = mapped_column(sa.Float)
    error: Mapped[str | None] = mapped_column(sa.Text)


def origins_of(task_id: str) -> sa.Select[TaskOrigin]:
    """The requests grouped into a task, oldest first."""
    of_task = sa.select(TaskOrigin).where(TaskOrigin.task_id == task_id)
    return of_task.order_by(TaskOrigin.raised_at, TaskOrigin.event_id)


TASKS: Final = cast(sa.Table, Task.__table__)
ORIGINS: Final = cast(sa.Table, TaskOrigin.__table__)
ORIGIN_UPDATES: Final = cast(sa.Table, OriginUpdate.__table__)
TASK_EVENTS: Final = cast(sa.Table, TaskEvent.__table__)
DELIVERIES: Final = cast(sa.Table, Delivery.__table__)


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
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).values(row).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(row).on_conflict_do_nothing()
    else:
        raise NotImplementedError(f"database dialect {dialect!r} is not supported")
    # RETURNING, not rowcount: drivers need not report a rowcount for INSERT.
    return conn.execute(stmt.returning(key)).first() is not None


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
        .values(sla_due=row["sla_due"], acknowledge_by=row["acknowledge_by"])
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


def current_revision(url: str) -> str | None:
    """The revision ``url`` is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
