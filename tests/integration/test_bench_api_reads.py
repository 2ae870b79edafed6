"""The API-reads bench builds its rollups in bulk (a million tasks in minutes, not the
rebuild's twenty): they must be the very rows ``handoff stats rebuild`` writes, or the
bench would measure figures nobody serves. Runs the bench's own ``--verify`` check on
2,000 generated tasks in PostgreSQL, and shows the check notices a wrong count."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bench import api_reads
from bench import api_reads_rollups as bulk
from bench.api_reads_measure import busy
from services.api.db import make_engine, upgrade
from services.api.models.rollups import HOUR
from services.api.rollups import stamp
from services.api.tally import TASKS


def test_bulk_rollups_equal_the_production_rebuild(postgres_url: str) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        tasks = api_reads.generated(2_000)
        api_reads.load(engine, tasks)
        sums = api_reads.sums_of(tasks)
        with engine.begin() as conn:
            compared, differ = bulk.verify(conn, sums)
            rebuilt = bulk.stored(conn)
        assert differ == []
        assert compared > 10_000  # hours x departments x teams x measures: not a trivial set
        hour = next(key for key in sums if key[0] == HOUR and key[2] == TASKS)
        sums[hour].n += 1  # one task too many in one hour: the check must say so
        with engine.begin() as conn:
            bulk.write(conn, sums)
            wrong = bulk.differences(bulk.stored(conn), rebuilt)
        assert len(wrong) == 1, wrong
        assert "'hour'" in wrong[0]
        assert "'tasks'" in wrong[0]
    finally:
        engine.dispose()


def test_the_generated_tasks_end_about_now() -> None:
    """The dashboard's windows end now: the bench's newest tasks must fall in them."""
    now = datetime.now(UTC)
    newest = api_reads.generated(2_000)[-1]["raised_at"]  # one every 1,500 s
    assert 0 <= (now - newest).total_seconds() < 3600 + 1500


def test_the_busy_writer_changes_tasks_from_another_process(postgres_url: str) -> None:
    """The *busy* reads' writer: task changes through the writers, at about its rate, each
    moving the rollups' version on (what makes a read after it compute again)."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        api_reads.load(engine, api_reads.generated(500))
        with engine.connect() as conn:
            before = stamp(conn)[0]
        with busy(postgres_url, 500, rate=20.0) as changed:  # yields after its first change
            time.sleep(3.0)
            written = changed()
        with engine.connect() as conn:
            after = stamp(conn)[0]
    finally:
        engine.dispose()
    assert 5 <= written <= 80  # 20 a second for 3 s: paced, not as fast as it can
    assert after - before >= written  # each change moved the version on
