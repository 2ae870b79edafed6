"""``handoff stats rebuild``: a database whose rows have no rollups gets them (issue 12)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from services.api import figures as read
from services.api.db import insert_task_if_absent
from services.api.models import ROLLUPS
from services.api.projection import task_row
from services.cli import app
from tests.unit.services.api.conftest import T0


def test_rebuild_counts_rows_written_without_rollups(
    db_url: str, engine: sa.Engine, make_routed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as conn:  # as a database from before the rollups has them
        for n in range(3):
            insert_task_if_absent(conn, task_row(make_routed(f"zd-{n}"), projected_at=T0))
    with engine.connect() as conn:
        assert read.who_waits(conn) == []
    monkeypatch.setenv("HANDOFF_DATABASE_URL", db_url)
    result = CliRunner().invoke(app, ["stats", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "rollups rebuilt from 3 tasks" in result.output
    with engine.connect() as conn:
        [pair] = read.who_waits(conn)
        assert conn.scalar(sa.select(sa.func.count()).select_from(ROLLUPS))
    assert (pair.department, pair.team, pair.open) == (
        "support",
        "billing-ui",
        3,
    )  # /zendesk/acme asks for support
