"""The ``Clock`` port: where the API learns the time (injected, so tests can fix it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock: aware UTC now."""
    return datetime.now(UTC)
