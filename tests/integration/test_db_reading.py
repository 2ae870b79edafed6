"""``db.reading``: a read-only connection on PostgreSQL sends no BEGIN and no ROLLBACK.

The bench at 1,000,000 tasks (``bench.api_reads``) showed every cached read paying
for three round trips where one was needed: psycopg's BEGIN before the first
statement and the pool's ROLLBACK when the connection goes back. A connection from
``reading`` is in autocommit, and the next plain connection from the pool is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from psycopg import pq

from services.api.db import make_engine, reading, upgrade
from services.api.models import TASKS


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    upgrade(postgres_url)
    made = make_engine(postgres_url, pool_size=1, max_overflow=0)  # one connection, reused
    yield made
    made.dispose()


def status(conn: sa.Connection) -> pq.TransactionStatus:
    driver: Any = conn.connection.driver_connection  # psycopg's own connection
    return pq.TransactionStatus(driver.info.transaction_status)


def test_a_read_opens_no_transaction_and_the_pool_gets_it_back_as_it_was(
    engine: sa.Engine,
) -> None:
    with engine.connect() as conn:  # as before: BEGIN sent with the first statement
        conn.execute(sa.select(sa.func.count()).select_from(TASKS))
        assert status(conn) == pq.TransactionStatus.INTRANS
    with reading(engine) as conn:
        conn.execute(sa.select(sa.func.count()).select_from(TASKS))
        assert status(conn) == pq.TransactionStatus.IDLE  # no BEGIN, nothing to roll back
    with engine.connect() as conn:  # the same connection, transactional again
        conn.execute(sa.select(sa.func.count()).select_from(TASKS))
        assert status(conn) == pq.TransactionStatus.INTRANS
        conn.rollback()


def test_a_write_after_a_read_is_still_one_transaction(engine: sa.Engine) -> None:
    with reading(engine) as conn:
        conn.execute(sa.select(1))

    def write_then_fail() -> None:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TEMPORARY TABLE t_reading (n int)"))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        write_then_fail()
    with engine.connect() as conn:  # the same session: a temporary table would still be there
        missing = conn.scalar(sa.text("SELECT to_regclass('pg_temp.t_reading')"))
    assert missing is None  # the whole transaction rolled back, the table with it
