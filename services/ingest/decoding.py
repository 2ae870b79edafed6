"""One way ingest decodes a JSON payload: UTF-8, bounded, and text handoff can store.

Every JSON input (each HTTP endpoint, the raw Kafka topics, a JSON Lines import) goes
through :func:`decode_json`, which refuses with an :class:`AdapterError` -- a 422 at
the HTTP edge, a dead letter on Kafka, a reject line in a batch -- and never raises
anything else:

- more than ``max_bytes`` (HTTP refuses that earlier, with a 413),
- not UTF-8, not JSON, or ``NaN``/``Infinity`` (not JSON, though Python reads them),
- nested deeper than ``max_depth``,
- an integer of more than ``max_int_digits`` digits (Python refuses more than 4,300 in
  ``int()``; no field of any source needs more than a few dozen) or a number too large
  for a float,
- a NUL character or a lone surrogate in any string or key (PostgreSQL cannot store a
  NUL; a lone surrogate cannot be encoded as UTF-8 again).

Each refusal is located at the payload (``loc``) and names where in it, as a path
like ``body.ticket.custom_fields[2].value``, in its message.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from services.ingest.adapters.base import AdapterError, Loc

MAX_DEPTH = 64
MAX_INT_DIGITS = 64
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
# Text decoded from strict UTF-8 holds no surrogate, and JSON refuses a raw control
# character in a string: a NUL or a lone surrogate in a decoded string or key can only come
# from a \u escape of one, so text without such an escape needs no walk for them (a valid
# surrogate pair is escaped so too: then the walk runs, and finds nothing).
_MAY_BE_BAD_TEXT = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


@dataclass(frozen=True)
class JsonLimits:
    max_bytes: int = 1024 * 1024
    max_depth: int = MAX_DEPTH
    max_int_digits: int = MAX_INT_DIGITS


@dataclass(frozen=True)
class _Refused:
    """What the scanner found in place of a number it must not build; reported with its path."""

    msg: str
    type: str


def decode_json(raw: bytes, limits: JsonLimits, loc: Loc = ("body",)) -> object:
    """The payload as JSON, or an AdapterError at ``loc`` saying what and where."""
    if len(raw) > limits.max_bytes:
        raise _error(loc, f"larger than {limits.max_bytes} bytes", "too_large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{loc[0]} is not valid UTF-8 (invalid byte at offset {exc.start})"
        raise _error(loc, msg, "utf8_invalid") from None
    if _MAY_BE_BAD_TEXT.search(text) is None:
        try:
            value = _loads(text, limits, loc, guarded=False)  # numbers by the C scanner alone
        except ValueError:  # an integer beyond Python's int(): the guarded read names it
            value = _REFUSED
        if value is not _REFUSED and _fine(value, limits):
            return value
    value = _loads(text, limits, loc)
    _check(value, limits, loc)  # finds the first refusal and names where it is
    return value


_REFUSED: Final = object()


def _fine(value: object, limits: JsonLimits) -> bool:
    """Whether nothing in ``value`` is to be refused but text: no list or object at
    ``max_depth`` or deeper, no integer of more digits than allowed, no infinite or NaN
    float. Cheap (no paths, strings not looked at): the common case's only walk."""
    bound = 10**limits.max_int_digits
    stack: list[tuple[dict[str, object] | list[object], int]] = [([value], -1)]
    while stack:
        item, depth = stack.pop()
        if depth >= limits.max_depth:
            return False
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif type(child) is int:  # not bool
                if not -bound < child < bound:
                    return False
            elif isinstance(child, float) and not math.isfinite(child):
                return False
    return True


def _loads(text: str, limits: JsonLimits, loc: Loc, *, guarded: bool = True) -> object:
    """``guarded``: numbers built through the limits' hooks (the C scanner calls back for
    each, a third of the time); else by the C scanner alone, checked by ``_fine`` after."""
    hooks: dict[str, Callable[[str], object]] = {}
    if guarded:
        hooks = {
            "parse_int": lambda digits: _integer(digits, limits.max_int_digits),
            "parse_float": _finite,
            "parse_constant": lambda name: _Refused(f"{name} is not JSON", "json_invalid"),
        }
    try:
        return json.loads(text, **hooks)  # type: ignore[arg-type]
    except json.JSONDecodeError as exc:
        msg = f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise _error(loc, msg, "json_invalid") from None
    except RecursionError:
        msg = f"invalid JSON: nested deeper than {limits.max_depth} levels"
        raise _error(loc, msg, "json_too_deep") from None


def _integer(digits: str, limit: int) -> int | _Refused:
    if len(digits.lstrip("-")) > limit:
        return _Refused(f"an integer of {len(digits)} digits (at most {limit})", "json_int")
    return int(digits)


def _finite(digits: str) -> float | _Refused:
    number = float(digits)
    if not math.isfinite(number):
        return _Refused(f"the number {digits[:40]!r} is too large", "json_number")
    return number


def _check(value: object, limits: JsonLimits, loc: Loc) -> None:
    """Walk the decoded value (no recursion) for refused numbers, bad text and depth."""
    stack: list[tuple[object, str, int]] = [(value, str(loc[0]), 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list) and depth >= limits.max_depth:
            msg = f"nested deeper than {limits.max_depth} levels at {path}"
            raise _error(loc, msg, "json_too_deep")
        if isinstance(item, dict):
            for key, child in item.items():
                _text(key, f"{path} (a key)", loc)
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
        elif isinstance(item, str):
            _text(item, path, loc)
        elif isinstance(item, _Refused):
            raise _error(loc, f"{item.msg} at {path}", item.type)


def _text(value: str, path: str, loc: Loc) -> None:
    if (found := _BAD_TEXT.search(value)) is not None:
        raise _bad_text(found.group(), path, loc)


def _bad_text(char: str, path: str, loc: Loc) -> AdapterError:
    if char == "\x00":
        return _error(
            loc, f"a NUL character (U+0000) is not allowed in text, at {path}", "string_nul"
        )
    msg = f"invalid JSON: a lone surrogate (U+{ord(char):04X}) at {path} is no text"
    return _error(loc, msg, "json_invalid")


def _error(loc: Loc, msg: str, type_: str) -> AdapterError:
    return AdapterError.at(loc, msg, type_)
