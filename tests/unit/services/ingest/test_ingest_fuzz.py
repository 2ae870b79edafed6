"""A fuzzer over every ingest endpoint: vendor-shaped payloads, mutated, never a 5xx.

Each example takes one endpoint's good payload (tests/fixtures/ingest, handoff's
contract) and mutates it: a field replaced or added with a hostile value (integers of
thousands of digits, extreme and malformed times, NUL, lone surrogates, deep nesting,
huge strings, wrong types), the raw body cut or garbled, the wrong content type, or
the signature headers tampered with. Every answer must be below 500.

Deterministic (``derandomize=True``) and short by default; ``HANDOFF_FUZZ_EXAMPLES``
sets the number of examples (``make chaos`` runs tens of thousands).
"""

from __future__ import annotations

import copy
import os
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from .endpoints import ENDPOINTS, JSON, NOW, Endpoint, make_ingest, signature

EXAMPLES = int(os.environ.get("HANDOFF_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
INGEST = make_ingest()

TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z",
        "2026-03-02T09:00:00",
        "2026-02-30T00:00:00Z",
        "2026-03-02T09:00:00+2400",
        "253402300800000",
        "-1",
        "",
        "Mon, 2 Mar, 2026 at 6:30 PM JST",
    ]
) | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
NUMBERS = st.one_of(
    st.integers(min_value=1, max_value=6000).map(lambda n: int("9" * min(n, 4000))),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([10**18 + 1, -(10**30), 1e308, 5e-324, 0, -1]),
)
TEXTS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["a\u0000b", "\ud800", "x\udfffy", "\ud83d\ude00", "\u202e", "-", " "]),
    st.integers(min_value=1, max_value=200_000).map(lambda n: "x" * n),
)
SCALARS = st.one_of(TIMES, NUMBERS, TEXTS, st.booleans(), st.none())
HOSTILE = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
) | st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value (containers and leaves), the root excluded."""
    found: list[tuple[Any, ...]] = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _replaced(payload: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(payload)
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


@st.composite
def json_bodies(draw: st.DrawFn, endpoint: Endpoint) -> bytes:
    payload, paths = endpoint.payload, _paths(endpoint.payload)
    how = draw(st.sampled_from(["replace", "add", "raw-deep", "raw-number", "whole"]))
    value = draw(HOSTILE)
    if how == "replace" and paths:
        path = draw(st.sampled_from(paths))
        if isinstance(value, str) and value.startswith("[["):
            return endpoint.body()[:-1] + b', "x": ' + value.encode() + b"}"
        return endpoint.body(_replaced(payload, path, value))
    if how == "add":
        containers = [p for p in paths if isinstance(_at(payload, p), dict)] + [()]
        where = draw(st.sampled_from(containers))
        name = draw(st.sampled_from(["created_at", "updated_at", "as_of", "StageName", "zz"]))
        target = copy.deepcopy(payload)
        _at(target, where)[name] = value
        return endpoint.body(target)
    if how == "raw-deep":
        depth = draw(st.integers(min_value=1, max_value=5000))
        return b"[" * depth + b"]" * depth
    if how == "raw-number":
        digits = draw(st.integers(min_value=1, max_value=20_000))
        return endpoint.body()[:-1] + b', "n": ' + b"1" * digits + b"}"
    return endpoint.body(value)


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


@st.composite
def csv_bodies(draw: st.DrawFn, endpoint: Endpoint) -> bytes:
    lines = endpoint.payload.splitlines()
    row = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    cells = lines[row].split(";")
    cell = draw(st.integers(min_value=0, max_value=len(cells) - 1))
    value = draw(st.one_of(TIMES, TEXTS, NUMBERS.map(str)))
    cells[cell] = value
    lines[row] = ";".join(cells)
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@st.composite
def requests(draw: st.DrawFn) -> tuple[Endpoint, bytes, dict[str, str]]:
    endpoint = draw(st.sampled_from(ENDPOINTS))
    kind = draw(st.sampled_from(["body", "body", "body", "bytes", "media", "signature"]))
    body = draw(json_bodies(endpoint)) if endpoint.media == JSON else draw(csv_bodies(endpoint))
    headers = signature(endpoint, body) | {"Content-Type": endpoint.media}
    if kind == "bytes":
        body = draw(st.binary(max_size=200)) if draw(st.booleans()) else body[: len(body) // 2]
        headers = signature(endpoint, body) | {"Content-Type": endpoint.media}
    elif kind == "media":
        headers["Content-Type"] = draw(
            st.sampled_from(["text/plain", "application/json; charset=latin-1", "text/csv", ""])
        )
    elif kind == "signature":
        headers |= draw(_signature_headers(endpoint))
    return endpoint, body, headers


@st.composite
def _signature_headers(draw: st.DrawFn, endpoint: Endpoint) -> dict[str, str]:
    stamp = draw(
        st.one_of(
            st.integers(min_value=-(10**13), max_value=10**13).map(str),
            st.sampled_from(["253402300800", "999999999999", "", "1e9", "٣٣"]),
            TIMES,
        )
    )
    if endpoint.name == "zendesk":
        return {"X-Zendesk-Webhook-Signature-Timestamp": stamp or "x"}
    signed = draw(st.sampled_from(["sha256=00", "md5=x", "sha256=" + "a" * 64]))
    return {"X-Handoff-Timestamp": stamp or "x", "X-Handoff-Signature": signed}


@FUZZ
@given(requests())
def test_no_mutated_request_to_any_endpoint_gets_a_5xx(
    request: tuple[Endpoint, bytes, dict[str, str]],
) -> None:
    endpoint, body, headers = request
    raw = {k: v.encode("utf-8", "surrogatepass") for k, v in headers.items()}

    response = INGEST.client.post(endpoint.path, content=body, headers=raw)

    event(f"{endpoint.name}: {response.status_code}")
    assert response.status_code < 500, (endpoint.name, response.status_code, response.text[:500])
    assert response.status_code in (202, 400, 401, 413, 415, 422), response.text[:500]


def test_the_fuzzer_clock_is_fixed() -> None:
    assert NOW.year == 2026  # signatures are made at NOW, the app's clock
