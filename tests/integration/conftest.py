"""Fixtures the integration tests share (the broker and PostgreSQL: tests/conftest.py)."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.api.db import make_engine, upgrade
from tests.integration.router_process import Producer


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """The database (SQLite, then PostgreSQL) migrated to the newest revision."""
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """A SQLite database of the API's schema, for tests of one consumer's own store."""
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def producer(kafka_bootstrap: str) -> Iterator[Producer]:
    """A producer of test events on the session's broker, closed after the test."""
    made = Producer(kafka_bootstrap)
    yield made
    made.close()


@pytest.fixture
def collect_kafka_python_leaks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """kafka-python 3.0.12 leaves sockets unclosed when it cannot connect: collect them here.

    Its log records would keep them alive past this test (they hold the
    connection errors, whose tracebacks hold the sockets), and their
    ResourceWarning would then fail whatever test the collector next runs in.
    The test itself ignores that warning (``filterwarnings`` mark).
    """
    caplog.set_level(logging.CRITICAL, logger="kafka")
    yield
    gc.collect()
