"""Figures: the asking department, answered_by, the resolve deadline, rollups (issues 16, 12).

``tasks.department`` held the answering team's department for tasks routed by a
router that sent one (issue 16, item 10): it becomes the asking department (the
source's, ``services.core.departments``), and the team's moves to
``answering_department``. Tasks the router answered itself (a ``task.resolved``
by the actor ``router`` on their timeline) get ``answered_by = 'router'``. The
rollups are then built from the task rows, as ``handoff stats rebuild`` does.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.api.lifecycle import department_of
from services.api.models.base import UtcDateTime
from services.core.departments import asking_department

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TASKS = sa.table(
    "tasks",
    sa.column("task_id", sa.String),
    sa.column("source", sa.String),
    sa.column("department", sa.String),
    sa.column("answering_department", sa.String),
    sa.column("answered_by", sa.String),
)
EVENTS = sa.table(
    "task_events", sa.column("task_id", sa.String), sa.column("actor", sa.String),
    sa.column("type", sa.String),
)  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("resolve_by", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("answered_by", sa.String(8), nullable=True))
        batch.add_column(sa.Column("answering_department", sa.String(64), nullable=True))
        batch.create_index("ix_tasks_raised_at", ["raised_at"])
        batch.create_index("ix_tasks_resolved_at", ["resolved_at"])
        batch.create_index("ix_tasks_state_sla_due", ["state", "sla_due"])
        batch.create_index("ix_tasks_state_resolve_by", ["state", "resolve_by"])
    op.create_index("ix_task_origins_raised_at", "task_origins", ["raised_at"])
    op.create_index("ix_deliveries_delivered_at", "deliveries", ["delivered_at"])
    _create_rollups()
    conn = op.get_bind()
    _fix_departments(conn)
    _mark_router_answers(conn)
    from services.api.rollups import rebuild  # the rows are final now: count them

    rebuild(conn)


def _create_rollups() -> None:
    op.create_table(
        "figure_rollups",
        sa.Column("grain", sa.String(8), nullable=False),
        sa.Column("bucket", UtcDateTime(), nullable=False),
        sa.Column("measure", sa.String(24), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("answered_by", sa.String(8), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("bins", sa.Text(), nullable=True),
        sa.Column("p50", sa.Float(), nullable=True),
        sa.Column("p90", sa.Float(), nullable=True),
        sa.Column("p99", sa.Float(), nullable=True),
        sa.Column("max", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint(
            "grain", "bucket", "measure", "department", "team", "answered_by",
            name=op.f("pk_figure_rollups"),
        ),
    )  # fmt: skip


def _fix_departments(conn: sa.Connection) -> None:
    """Asking department from the source; the old value, when a router set it, is the team's."""
    sources = conn.scalars(sa.select(TASKS.c.source).distinct()).all()
    for source in sources:
        of_source = TASKS.c.source == source
        router_set = sa.and_(
            of_source, TASKS.c.department.is_not(None), TASKS.c.department != department_of(source)
        )
        conn.execute(
            TASKS.update().where(router_set).values(answering_department=TASKS.c.department)
        )
        conn.execute(TASKS.update().where(of_source).values(department=asking_department(source)))


def _mark_router_answers(conn: sa.Connection) -> None:
    answered = sa.select(EVENTS.c.task_id).where(
        EVENTS.c.actor == "router", EVENTS.c.type == "task.resolved"
    )
    conn.execute(TASKS.update().where(TASKS.c.task_id.in_(answered)).values(answered_by="router"))


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(
        TASKS.update()
        .where(TASKS.c.answering_department.is_not(None))
        .values(department=TASKS.c.answering_department)
    )
    op.drop_table("figure_rollups")
    op.drop_index("ix_deliveries_delivered_at", table_name="deliveries")
    op.drop_index("ix_task_origins_raised_at", table_name="task_origins")
    # Not batch mode: copying tasks on SQLite would trip the foreign keys of the rows that
    # refer to it; SQLite (3.35 and later) drops a column that is in no index in place.
    for index in (
        "ix_tasks_state_resolve_by", "ix_tasks_state_sla_due", "ix_tasks_resolved_at",
        "ix_tasks_raised_at",
    ):  # fmt: skip
        op.drop_index(index, table_name="tasks")
    for column in ("answering_department", "answered_by", "resolve_by"):
        op.drop_column("tasks", column)
