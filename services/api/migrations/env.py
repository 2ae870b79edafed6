"""Alembic environment for the API's database.

Used from code (``services.api.db.upgrade``), which hands over an open
connection in ``config.attributes["connection"]``; or from the command line
with ``alembic -c services/api/migrations/alembic.ini ...``, which connects to
``HANDOFF_DATABASE_URL`` (the API's setting).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from services.api.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _database_url() -> str:
    from services.api.settings import ApiSettings

    return ApiSettings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        _configure_and_run(given)
        return
    engine = make_engine(_database_url())
    try:
        with engine.begin() as connection:
            _configure_and_run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
