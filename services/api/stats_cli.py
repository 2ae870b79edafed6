"""``handoff stats rebuild``: the figures' rollups recomputed from the task rows."""

from __future__ import annotations

import time

import typer

stats_app = typer.Typer(no_args_is_help=True, help="The figures (/v1/stats) and their rollups.")


@stats_app.command("rebuild")
def stats_rebuild() -> None:
    """Recompute every rollup from the task rows (for a database from before the rollups, or
    after rows were changed by hand); one transaction, so readers see old or new figures."""
    from services.api.db import make_engine, upgrade
    from services.api.rollups import rebuild
    from services.api.settings import ApiSettings

    settings = ApiSettings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    started = time.monotonic()
    try:
        with engine.begin() as conn:
            tasks = rebuild(conn)
    finally:
        engine.dispose()
    typer.echo(f"rollups rebuilt from {tasks} tasks in {time.monotonic() - started:.1f} s")
