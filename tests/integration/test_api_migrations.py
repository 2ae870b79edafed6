"""The API's schema on both databases: migrations up and down, UTC round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from services.api.db import (
    TASKS,
    Base,
    current_revision,
    downgrade,
    head_revision,
    insert_task_if_absent,
    make_engine,
    upgrade,
)

JST = timezone(timedelta(hours=9))


def task(task_id: str, source_event_id: str, **overrides: object) -> dict[str, object]:
    raised = datetime(2025, 3, 3, 18, 0, 0, 250000, tzinfo=JST)
    row: dict[str, object] = {
        "task_id": task_id,
        "source_event_id": source_event_id,
        "source": "/zendesk/acme",
        "team": "billing-ui",
        "rule": "component:billing-ui",
        "account": "example.co.jp",
        "priority": "high",
        "component": "billing-ui",
        "subject": "請求書の画面が分かりにくい",
        "description": "支払い方法の変更ボタンが見つかりません 🙏",
        "requester_email": "taro@example.co.jp",
        "state": "open",
        "raised_at": raised,
        "routed_at": raised + timedelta(seconds=2),
        "sla_due": raised + timedelta(hours=4),
        "projected_at": raised + timedelta(seconds=3),
        "resolved_at": None,
        "resolution": None,
        "feedback_latency_s": None,
        "version": 1,
    }
    row.update(overrides)
    return row


def test_upgrade_from_empty_then_downgrade_cleanly(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    engine = make_engine(database_url)
    try:
        inspector = sa.inspect(engine)
        assert "tasks" in inspector.get_table_names()
        columns = {c["name"] for c in inspector.get_columns("tasks")}
        assert columns == set(TASKS.columns.keys())
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("tasks")}
        assert indexes["ix_tasks_team_state_raised_at"] == ["team", "state", "raised_at"]
        assert indexes["ix_tasks_account"] == ["account"]
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []

        downgrade(database_url, "base")
        assert current_revision(database_url) is None
        assert "tasks" not in sa.inspect(engine).get_table_names()

        upgrade(database_url)  # and back up again
        assert current_revision(database_url) == head_revision()
    finally:
        engine.dispose()


def test_tasks_round_trip_utc_text_and_dedup(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            assert insert_task_if_absent(conn, task("t-1", "e-1")) is True
            assert insert_task_if_absent(conn, task("t-1", "e-1", subject="again")) is False
            assert insert_task_if_absent(conn, task("t-2", "e-1")) is False  # same source event
            assert insert_task_if_absent(conn, task("t-3", "e-3")) is True
        with engine.connect() as conn:
            rows = conn.execute(sa.select(TASKS).order_by(TASKS.c.task_id)).mappings().all()
            since = datetime(2025, 3, 3, 8, 59, 59, tzinfo=UTC)
            later = conn.execute(
                sa.select(sa.func.count()).select_from(TASKS).where(TASKS.c.raised_at >= since)
            ).scalar_one()
        assert [r["task_id"] for r in rows] == ["t-1", "t-3"]
        first = rows[0]
        assert first["subject"] == "請求書の画面が分かりにくい"
        assert first["description"] == "支払い方法の変更ボタンが見つかりません 🙏"
        assert first["raised_at"] == datetime(2025, 3, 3, 9, 0, 0, 250000, tzinfo=UTC)
        assert first["raised_at"].tzinfo is UTC
        assert first["sla_due"].tzinfo is UTC
        assert first["resolved_at"] is None
        assert later == 2
    finally:
        engine.dispose()


def test_0002_keeps_existing_tasks_and_downgrades_to_0001(database_url: str) -> None:
    upgrade(database_url, "0001")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            # The 0001 columns only, written through the same UTC type the model uses.
            insert_0001 = task("t-1", "e-1", source="/sources/support")
            conn.execute(
                sa.table("tasks", *[TASKS.c[k]._copy() for k in insert_0001]).insert(), insert_0001
            )
        upgrade(database_url)
        assert current_revision(database_url) == head_revision()
        tables = set(sa.inspect(engine).get_table_names())
        assert {
            "task_events",
            "api_tokens",
            "callbacks",
            "deliveries",
            "delivery_attempts",
        } <= tables
        with engine.begin() as conn:
            row = conn.execute(sa.select(TASKS).where(TASKS.c.task_id == "t-1")).mappings().one()
            assert row["department"] == "support"  # filled for tasks stored before 0002
            assert row["subject"] == "請求書の画面が分かりにくい"
            conn.execute(TASKS.update().values(state="in_progress"))
        downgrade(database_url, "0001")
        assert current_revision(database_url) == "0001"
        tables = set(sa.inspect(engine).get_table_names())
        assert "task_events" not in tables
        with engine.connect() as conn:
            state = conn.execute(sa.text("SELECT state FROM tasks")).scalar_one()
        assert state == "open"  # the states 0001 does not know count as open
    finally:
        engine.dispose()
