"""Compact JSON for the router's own topics and tables, through orjson (the hot path).

orjson writes what ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))``
wrote, byte for byte, for the values the router stores (strings, ints, floats,
booleans, None, lists, dicts with string keys), so a worker on this code
recovers what an older one stored and the other way round. Where orjson refuses
a value the standard library takes (an int past 64 bits, a lone surrogate), the
standard library does it, as before: never a new reason to dead-letter.
May import nothing of the router; never faust.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(body: Any) -> bytes:
    """Compact UTF-8 JSON."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def dumps_text(body: Any) -> str:
    """Compact JSON as text (a table value)."""
    return dumps(body).decode("utf-8")


def loads(value: bytes | str) -> Any:
    """A JSON document; ``ValueError`` if it is not one."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)  # what orjson refuses and json took: as before, or its error
