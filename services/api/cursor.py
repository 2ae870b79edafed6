"""The ``cursor`` of ``GET /v1/tasks``: where the next page starts, opaque to the client."""

import base64
import binascii
import json
from datetime import UTC, datetime

from services.api.db import Task
from services.api.errors import BadActionError
from services.api.payloads.fields import unstorable
from services.api.repository import Cursor


def encode_cursor(task: Task) -> str:
    """The cursor after ``task``: its raised_at and id, base64 (URL-safe, unpadded)."""
    raw = json.dumps([task.raised_at.isoformat(), task.task_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> Cursor:
    """Where a cursor points; a 422 on ``query.cursor`` if this API did not make it."""
    try:
        padded = value + "=" * (-len(value) % 4)
        raised, task_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        when = datetime.fromisoformat(raised)
        if when.tzinfo is None or not isinstance(task_id, str) or unstorable(task_id):
            raise ValueError(value)
        return Cursor(when.astimezone(UTC), task_id)
    except (ValueError, TypeError, OverflowError, UnicodeError, binascii.Error):
        raise BadActionError("query.cursor", "not a cursor this API returned") from None
