"""Session fixtures that start the real parts once: a Kafka broker, a PostgreSQL.

Integration tests never skip: when a part cannot be started the fixture
fails with the reason. ``HANDOFF_TEST_KAFKA_BOOTSTRAP`` and
``HANDOFF_TEST_DATABASE_URL`` point the suite at parts already running.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.local.kafka import LocalKafka, free_port
from services.local.postgres import LocalPostgres
from tests.databases import fresh_postgres_database

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Apache Kafka broker on 127.0.0.1 for the whole session."""
    if given := os.environ.get("HANDOFF_TEST_KAFKA_BOOTSTRAP"):
        yield given
        return
    broker = LocalKafka(
        home=tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port()
    )
    try:
        yield broker.up(timeout=120)
    finally:
        broker.down()


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL for the whole session (a throwaway cluster of ours)."""
    if given := os.environ.get("HANDOFF_TEST_DATABASE_URL"):
        yield given
        return
    # Not under pytest's tmp folders: those are private to us, and as root the
    # server runs as the `postgres` user, who must be able to reach its home.
    home = Path(tempfile.mkdtemp(prefix="handoff-test-pg-"))
    server = LocalPostgres(home=home, port=free_port())
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind: a SQLite file, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'handoff.db'}"
        return
    server_url = request.getfixturevalue("postgres_server_url")
    yield from fresh_postgres_database(server_url)


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """An empty PostgreSQL database (for tests that run on PostgreSQL only)."""
    yield from fresh_postgres_database(postgres_server_url)
