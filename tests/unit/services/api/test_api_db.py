from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from services.api.db import (
    TASKS,
    Base,
    UtcDateTime,
    current_revision,
    downgrade,
    head_revision,
    insert_task_if_absent,
    make_engine,
    string_limits,
    upgrade,
)
from services.api.projection import task_row

JST = timezone(timedelta(hours=9))
STAMPS = sa.Table(
    "stamps",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UtcDateTime),
)


@pytest.fixture
def stamps(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'stamps.db'}")
    STAMPS.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    "given",
    [
        datetime(2025, 3, 3, 18, 30, 15, 123456, tzinfo=JST),
        datetime(2025, 3, 3, 9, 30, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_utc_datetime_comes_back_aware_utc_and_equal(stamps: sa.Engine, given: datetime) -> None:
    untyped = sa.Table("stamps", sa.MetaData(), autoload_with=stamps)
    with stamps.begin() as conn:
        conn.execute(STAMPS.insert().values(id=1, at=given))
    with stamps.connect() as conn:
        back = conn.execute(sa.select(STAMPS.c.at)).scalar_one()
        raw = conn.execute(sa.select(untyped.c.at)).scalar_one()
    assert back == given
    assert back.tzinfo is UTC
    assert back.utcoffset() == timedelta(0)
    # SQLite stores the UTC wall time, so string order is time order.
    assert str(raw).startswith(given.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"))


def test_utc_datetime_refuses_naive_values(stamps: sa.Engine) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), stamps.begin() as conn:
        conn.execute(STAMPS.insert().values(id=1, at=datetime(2025, 3, 3, 9, 0)))


def test_utc_datetime_compares_in_utc(stamps: sa.Engine) -> None:
    with stamps.begin() as conn:
        conn.execute(STAMPS.insert(), [{"id": 1, "at": datetime(2025, 3, 3, 9, 0, tzinfo=UTC)}])
        # 17:59 in Tokyo is 08:59 UTC: before the stored instant.
        since = datetime(2025, 3, 3, 17, 59, tzinfo=JST)
        assert conn.execute(sa.select(STAMPS.c.id).where(STAMPS.c.at >= since)).all() == [(1,)]
        later = datetime(2025, 3, 3, 18, 1, tzinfo=JST)
        assert conn.execute(sa.select(STAMPS.c.id).where(STAMPS.c.at >= later)).all() == []


def test_make_engine_creates_the_folder_and_uses_wal(tmp_path: Path) -> None:
    target = tmp_path / "var" / "nested" / "handoff.db"
    engine = make_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert target.exists()
    finally:
        engine.dispose()


def test_migrations_match_the_models_and_downgrade_to_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert current_revision(url) is None
    upgrade(url)
    assert current_revision(url) == head_revision()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
            assert diff == []
        downgrade(url, "base")
        assert current_revision(url) is None
        assert "tasks" not in sa.inspect(engine).get_table_names()
        upgrade(url)
        assert "tasks" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_insert_if_absent_keeps_the_first_copy(engine: sa.Engine, make_routed: Any) -> None:
    at = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    first = task_row(make_routed("zd-7"), projected_at=at)
    again = task_row(make_routed("zd-7", subject="changed"), projected_at=at)
    with engine.begin() as conn:
        assert insert_task_if_absent(conn, first) is True
    with engine.begin() as conn:
        assert insert_task_if_absent(conn, again) is False
    with engine.connect() as conn:
        rows = conn.execute(sa.select(TASKS.c.subject)).all()
    assert rows == [("請求書の画面が分かりにくい",)]


def test_insert_if_absent_also_dedups_on_the_source_event(
    engine: sa.Engine, make_routed: Any
) -> None:
    at = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    row = task_row(make_routed("zd-8"), projected_at=at)
    with engine.begin() as conn:
        assert insert_task_if_absent(conn, row) is True
        assert insert_task_if_absent(conn, {**row, "task_id": "another-id"}) is False


def test_string_limits_come_from_the_columns() -> None:
    limits = string_limits()
    assert limits["team"] == 64
    assert limits["task_id"] == 128
    assert "subject" not in limits  # unbounded text
