"""What every table shares: UTC datetimes on every dialect, one naming convention, states."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

from schemas.events import TaskState

OPEN: Final = TaskState.OPEN.value
RESOLVED: Final = TaskState.RESOLVED.value
STATES: Final[tuple[str, ...]] = tuple(state.value for state in TaskState)
STATE_CHECK: Final = "state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")"

# A task id must be usable in a URL path as is; derived ids (uuid5) always are.
TASK_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
TASK_ID_RE: Final = re.compile(TASK_ID_PATTERN)

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime stored as UTC; read back aware UTC on every dialect.

    SQLite keeps no offset, so the value is stored as naive UTC there (a fixed
    format string, which also sorts correctly). Naive input is refused.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} (a timezone is required)")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
