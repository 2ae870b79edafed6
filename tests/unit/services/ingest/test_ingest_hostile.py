"""Regression tests for issue 10's ingest defects: hostile input is a 4xx, never a 500.

Defect 3: huge integers, overflowing date-times, huge CSV fields, NUL and lone surrogates.
Defect 4: a signature timestamp beyond year 9999 is a 401, not a 500.
Defect 6: times handoff cannot use are a 422; an old request is timed from its receipt.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from .endpoints import BY_NAME, ENDPOINTS, NOW, Endpoint, make_ingest, signature, ticket

JSON_ENDPOINTS = [e for e in ENDPOINTS if e.media == "application/json"]
YEAR_1 = "0001-01-01T00:00:00+14:00"
YEAR_9999 = "9999-12-31T23:59:59-12:00"


def _detail(response: Any) -> list[dict[str, Any]]:
    assert isinstance(response.json()["detail"], list), response.text
    return list(response.json()["detail"])


def _with(payload: Any, path: tuple[str, ...], value: Any) -> Any:
    out = copy.deepcopy(payload)
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


# --- defect 3: one bounded JSON decoding path --------------------------------------------


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=lambda e: e.name)
def test_an_integer_of_5000_digits_anywhere_is_a_422_naming_where(endpoint: Endpoint) -> None:
    ingest = make_ingest()
    body = endpoint.body()[:-1] + b', "extra": {"n": [' + b"9" * 5000 + b"]}}"

    response = ingest.post(endpoint, body)

    assert response.status_code == 422, response.text
    [error] = _detail(response)
    assert error["type"] == "json_int"
    assert "5000 digits" in error["msg"]
    assert "body.extra.n[0]" in error["msg"]
    assert ingest.publisher.published == []


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=lambda e: e.name)
@pytest.mark.parametrize(
    ("text", "kind"),
    [("a\u0000b", "string_nul"), ("a\ud800b", "json_invalid"), ("\udfff", "json_invalid")],
    ids=["nul", "lone-high-surrogate", "lone-low-surrogate"],
)
def test_nul_and_lone_surrogates_are_a_422_naming_the_field(
    endpoint: Endpoint, text: str, kind: str
) -> None:
    ingest = make_ingest()
    body = endpoint.body()[:-1] + b', "note": ' + json.dumps(text).encode() + b"}"

    response = ingest.post(endpoint, body)

    assert response.status_code == 422, response.text
    [error] = _detail(response)
    assert (error["type"], "body.note" in error["msg"]) == (kind, True), error


def test_a_salesforce_stage_name_with_a_lone_surrogate_is_a_422() -> None:
    ingest = make_ingest()
    endpoint = BY_NAME["salesforce"]
    body = endpoint.body(_with(endpoint.payload, ("StageName",), "Closed \ud83d Lost"))

    response = ingest.post(endpoint, body)

    assert response.status_code == 422, response.text
    assert "body.StageName" in _detail(response)[0]["msg"]


def test_a_key_with_a_nul_is_a_422() -> None:
    ingest = make_ingest()
    endpoint = BY_NAME["hubspot"]
    body = endpoint.body(_with(endpoint.payload, ("properties", "a\u0000b"), "x"))

    assert ingest.post(endpoint, body).status_code == 422


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=lambda e: e.name)
def test_nesting_deeper_than_the_limit_is_a_422(endpoint: Endpoint) -> None:
    ingest = make_ingest()
    body = endpoint.body()[:-1] + b', "deep": ' + b"[" * 100 + b"]" * 100 + b"}"

    response = ingest.post(endpoint, body)

    assert response.status_code == 422, response.text
    assert _detail(response)[0]["type"] == "json_too_deep"


@pytest.mark.parametrize("number", [b"NaN", b"-Infinity", b"1e999"])
def test_numbers_that_are_not_finite_are_a_422(number: bytes) -> None:
    ingest = make_ingest()
    endpoint = BY_NAME["sales"]
    body = endpoint.body()[:-1] + b', "amount": ' + number + b"}"

    response = ingest.post(endpoint, body)

    assert response.status_code == 422, response.text
    assert "body.amount" in _detail(response)[0]["msg"]


def test_a_csv_field_over_the_csv_module_limit_is_a_422_naming_the_row() -> None:
    ingest = make_ingest(ingest_max_body_bytes=400_000)
    endpoint = BY_NAME["capacity-csv"]
    csv_text = endpoint.payload + '"' + "x" * 140_000 + '";L;;2026-03-10;1;2026-03-02T00:00:00Z\n'

    response = ingest.post(endpoint, csv_text.encode())

    assert response.status_code == 422, response.text
    [error] = _detail(response)
    assert error["loc"][0] == "row"
    assert "field" in error["msg"]


def test_a_csv_with_a_nul_is_a_422_naming_the_row() -> None:
    ingest = make_ingest()
    endpoint = BY_NAME["capacity-csv"]

    response = ingest.post(endpoint, (endpoint.payload + "P\x00;L;;2026-03-10;1;x\n").encode())

    assert response.status_code == 422, response.text
    assert _detail(response)[0]["type"] == "string_nul"


# --- defect 3: one time-parsing path that refuses what it cannot represent -----------------

OVERFLOWING_FIELDS = [
    ("capacity", ("as_of",), ["body", "as_of"]),
    ("zendesk", ("ticket", "updated_at"), ["body", "ticket", "updated_at"]),
    ("zendesk", ("ticket", "created_at"), ["body", "ticket", "created_at"]),
    ("freshdesk", ("updated_at",), ["body", "updated_at"]),
    ("hubspot", ("properties", "closedate"), ["body", "properties", "closedate"]),
    ("hubspot", ("updatedAt",), ["body", "updatedAt"]),
    ("salesforce", ("LastModifiedDate",), ["body", "LastModifiedDate"]),
    ("sales", ("created_at",), ["body", "created_at"]),
    ("support", ("created_at",), ["body", "created_at"]),
]


@pytest.mark.parametrize("moment", [YEAR_1, YEAR_9999])
@pytest.mark.parametrize(
    ("name", "path", "loc"),
    OVERFLOWING_FIELDS,
    ids=[f"{n}-{p[-1]}" for n, p, _ in OVERFLOWING_FIELDS],
)
def test_a_date_time_that_overflows_in_utc_is_a_422_naming_the_field(
    name: str, path: tuple[str, ...], loc: list[str], moment: str
) -> None:
    ingest = make_ingest()
    endpoint = BY_NAME[name]

    response = ingest.post(endpoint, endpoint.body(_with(endpoint.payload, path, moment)))

    assert response.status_code == 422, response.text
    assert [e["loc"] for e in _detail(response)] == [loc]
    assert _detail(response)[0]["type"] == "datetime_range"


@pytest.mark.parametrize("moment", [YEAR_1, YEAR_9999, "1970-01-01T00:00:00Z"])
def test_a_capacity_csv_as_of_out_of_range_is_a_422_naming_the_row(moment: str) -> None:
    ingest = make_ingest()
    endpoint = BY_NAME["capacity-csv"]
    csv_text = endpoint.payload.replace("2026-03-01T22:00:00Z", moment)

    response = ingest.post(endpoint, csv_text.encode())

    assert response.status_code == 422, response.text
    locs = [e["loc"] for e in _detail(response)]
    # the column as the export wrote it (its header says "As Of")
    assert all(loc[0] == "row" and loc[-1] == "As Of" for loc in locs), locs


# --- defect 4: the signature timestamp -----------------------------------------------------


@pytest.mark.parametrize("stamp", ["253402300800", "999999999999", "0"])
@pytest.mark.parametrize("name", ["support", "sales", "salesforce", "capacity-csv"])
def test_a_handoff_timestamp_of_any_size_is_a_401_not_a_500(name: str, stamp: str) -> None:
    ingest = make_ingest()
    endpoint = BY_NAME[name]
    body = endpoint.body()
    headers = signature(endpoint, body) | {"X-Handoff-Timestamp": stamp}

    response = ingest.post(endpoint, body, headers=headers)

    assert response.status_code == 401, response.text
    assert "timestamp" in response.json()["detail"]
    assert "off" in response.json()["detail"]


@pytest.mark.parametrize("stamp", [YEAR_1, YEAR_9999, "10000-01-01T00:00:00Z", "2026-03-02"])
def test_a_zendesk_timestamp_out_of_range_is_a_401(stamp: str) -> None:
    ingest = make_ingest()
    endpoint = BY_NAME["zendesk"]
    body = endpoint.body()
    headers = signature(endpoint, body) | {"X-Zendesk-Webhook-Signature-Timestamp": stamp}

    assert ingest.post(endpoint, body, headers=headers).status_code == 401


# --- defect 6: times handoff cannot use, and requests raised long before -----------------


@pytest.mark.parametrize(
    "created_at",
    [
        "9999-12-31T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "1999-12-31T23:59:59Z",
        (NOW + timedelta(days=8)).isoformat(),
    ],
)
def test_a_ticket_time_handoff_cannot_use_is_a_422_naming_created_at(created_at: str) -> None:
    ingest = make_ingest()
    endpoint = BY_NAME["support"]

    response = ingest.post(endpoint, endpoint.body(ticket(created_at=created_at)))

    assert response.status_code == 422, response.text
    [error] = _detail(response)
    assert (error["loc"], error["type"]) == (["body", "created_at"], "datetime_range")
    assert ingest.publisher.published == []


def test_the_earliest_usable_time_is_a_setting() -> None:
    ingest = make_ingest(ingest_time_earliest="1960-01-01T00:00:00Z", ingest_sla_max_lag_s=60)
    endpoint = BY_NAME["support"]

    response = ingest.post(endpoint, endpoint.body(ticket(created_at="1970-01-01T00:00:00Z")))

    assert response.status_code == 202, response.text
    assert ingest.events()[0].sla_start == NOW


def test_a_ticket_raised_long_before_handoff_saw_it_is_timed_from_its_receipt() -> None:
    ingest = make_ingest()
    endpoint = BY_NAME["support"]
    raised = NOW - timedelta(days=400)

    response = ingest.post(endpoint, endpoint.body(ticket(created_at=raised.isoformat())))

    assert response.status_code == 202, response.text
    [event] = ingest.events()
    assert event.time == raised  # when the customer raised it, as the helpdesk said
    assert event.slastart == NOW  # the event says its SLA runs from its receipt
    assert event.sla_start == NOW


def test_a_ticket_raised_minutes_before_keeps_its_own_time_for_the_sla() -> None:
    ingest = make_ingest()
    endpoint = BY_NAME["support"]
    raised = NOW - timedelta(minutes=10)

    response = ingest.post(endpoint, endpoint.body(ticket(created_at=raised.isoformat())))

    assert response.status_code == 202, response.text
    [event] = ingest.events()
    assert (event.slastart, event.sla_start) == (None, raised)
    assert b"slastart" not in ingest.publisher.published[0][2]


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("zendesk", ("ticket", "created_at")),
        ("freshdesk", ("created_at",)),
        ("salesforce", ("LastModifiedDate",)),
        ("hubspot", ("updatedAt",)),
        ("sales", ("created_at",)),
    ],
)
def test_a_vendor_request_raised_long_before_is_timed_from_its_receipt(
    name: str, path: tuple[str, ...]
) -> None:
    ingest = make_ingest()
    endpoint = BY_NAME[name]
    old = "2024-05-01T08:00:00Z"
    payload = _with(endpoint.payload, path, old)
    if name == "freshdesk":
        payload["updated_at"] = old

    response = ingest.post(endpoint, endpoint.body(payload))

    assert response.status_code == 202, response.text
    first = ingest.events()[0]
    assert first.sla_start == NOW
    assert first.time.year == 2024
