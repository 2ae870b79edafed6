"""The one JSON decoding path: bounded size, depth and integers; text handoff can store."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest import decoding
from services.ingest.adapters.base import AdapterError
from services.ingest.decoding import JsonLimits, decode_json

LIMITS = JsonLimits(max_bytes=10_000, max_depth=8, max_int_digits=20)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"a": [1, 2.5, "x", true, null]}', {"a": [1, 2.5, "x", True, None]}),
        (b"9" * 20, int("9" * 20)),
        (b'"\\ud83d\\ude00"', "\U0001f600"),  # a surrogate pair is one character
        (b"[" * 8 + b"]" * 8, [[[[[[[[]]]]]]]]),
    ],
)
def test_what_it_accepts(raw: bytes, value: Any) -> None:
    assert decode_json(raw, LIMITS) == value


@pytest.mark.parametrize(
    ("raw", "error_type", "where"),
    [
        (b'{"a": {"b": [' + b"1" * 21 + b"]}}", "json_int", "body.a.b[0]"),
        (b'{"a": -' + b"1" * 5000 + b"}", "json_int", "body.a"),
        (b'{"n": NaN}', "json_invalid", "body.n"),
        (b'{"n": -Infinity}', "json_invalid", "body.n"),
        (b'{"n": 1e400}', "json_number", "body.n"),
        (b'{"s": "a\\u0000b"}', "string_nul", "body.s"),
        (b'{"a\\u0000": 1}', "string_nul", "body (a key)"),
        (b'{"s": ["\\ud800"]}', "json_invalid", "body.s[0]"),
        (b'{"s": "\\udfff"}', "json_invalid", "body.s"),
        (b"[" * 9 + b"]" * 9, "json_too_deep", "body"),
        (b"[" * 5000 + b"]" * 5000, "json_too_deep", ""),
        (b"\xff", "utf8_invalid", ""),
        (b"{", "json_invalid", ""),
        (b" " * 10_001, "too_large", ""),
    ],
)
def test_what_it_refuses_naming_where(raw: bytes, error_type: str, where: str) -> None:
    with pytest.raises(AdapterError) as refused:
        decode_json(raw, LIMITS)

    [error] = refused.value.errors
    assert (error["loc"], error["type"]) == (["body"], error_type)
    assert where in error["msg"]


def test_the_location_is_the_callers() -> None:
    with pytest.raises(AdapterError) as refused:
        decode_json(b'{"s": "\\u0000"}', LIMITS, ("value",))

    assert refused.value.errors[0]["loc"] == ["value"]
    assert "value.s" in refused.value.errors[0]["msg"]


# --- the common case's fast read equals the guarded read --------------------------------

LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(10**25), 10**25)  # around LIMITS' 20 digits
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)  # NULs and lone surrogates among them
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=30,
)


def outcome(raw: bytes) -> tuple[str, Any]:
    try:
        return "value", decode_json(raw, LIMITS)
    except AdapterError as exc:
        return "refused", exc.errors


@settings(max_examples=400, deadline=None)
@given(value=VALUES, ascii_only=st.booleans())
def test_the_fast_read_answers_as_the_guarded_read(value: Any, ascii_only: bool) -> None:
    """``decode_json`` reads numbers with the C scanner alone when the text has no escape of
    a NUL or surrogate, and walks paths only when its cheap check finds something: it must
    accept and refuse exactly what the guarded read (every number through the hooks, every
    string walked) does, with the same message."""
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    fast = outcome(raw)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decoding, "_MAY_BE_BAD_TEXT", re.compile(""))  # always the guarded read
        guarded = outcome(raw)
    assert fast == guarded
