"""Capacity CSV exports: one event per line and as_of, rows refused with their reasons."""

from __future__ import annotations

from datetime import date

import pytest

from schemas import topics
from schemas.events import PRODUCTION_CAPACITY, ProductionCapacity, derived_id
from services.ingest.adapters import capacity_csv, handoff
from services.ingest.adapters.base import AdapterError

from .fixtures import CTX, text


def test_an_export_with_bom_semicolons_and_spaced_headers() -> None:
    nagoya, stuttgart = capacity_csv.adapt(text("capacity.csv"), CTX)

    assert nagoya.topic == topics.INGEST_CAPACITY
    assert nagoya.key == "capacity:Nagoya-1/line-a"
    assert nagoya.event.type == PRODUCTION_CAPACITY
    model = ProductionCapacity.model_validate(nagoya.event.data)
    assert model.line == "line-a"
    assert model.product_family == "wx-200"
    assert [(d.date, d.units) for d in model.free] == [
        (date(2026, 3, 10), 1200),
        (date(2026, 3, 11), 800),
        (date(2026, 3, 12), 0),
    ]
    assert model.as_of.isoformat() == "2026-03-02T06:00:00+09:00"
    assert nagoya.event.id == derived_id(
        PRODUCTION_CAPACITY,
        "/sources/capacity",
        "Nagoya-1",
        "line-a",
        "wx-200",
        "2026-03-01T21:00:00+00:00",
    )
    assert stuttgart.event.data["product_family"] is None


def test_the_json_endpoint_and_the_csv_give_the_same_id_for_the_same_snapshot() -> None:
    [from_csv, _] = capacity_csv.adapt(text("capacity.csv"), CTX)
    [from_json] = handoff.capacity(from_csv.event.data, CTX)
    assert from_json.event.id == from_csv.event.id


def test_quoted_thousands_in_a_comma_file() -> None:
    csv_text = 'plant,line,date,units,as_of\nP1,L1,2026-03-10,"1,200",2026-03-02T00:00:00Z\n'
    [out] = capacity_csv.adapt(csv_text.encode(), CTX)
    assert out.event.data["free"] == [{"date": "2026-03-10", "units": 1200}]


def test_rows_with_problems_are_refused_with_their_line_numbers() -> None:
    csv_text = (
        "plant,line,date,free_units,as_of\n"
        "P1,L1,2026-03-10,100,2026-03-02T00:00:00Z\n"
        "P1,L1,2026-03-11,-5,2026-03-02T00:00:00Z\n"
        "P1,L1,2026-03-12,10,2026-03-02T00:00:00\n"
        "P1,L1,2026-03-10,7,2026-03-02T00:00:00Z\n"
        ",L1,2026-03-13,10,2026-03-02T00:00:00Z\n"
    )
    rows, errors = capacity_csv.parse(csv_text)
    events, more = capacity_csv.events(rows)
    problems = {e.number: e.error.errors[0] for e in errors + more}
    assert set(problems) == {3, 4, 5, 6}
    assert problems[3]["loc"] == ["row", 3, "free_units"]
    assert "time zone" in problems[4]["msg"]
    assert "already given" in problems[5]["msg"]
    assert problems[6]["loc"] == ["row", 6, "plant"]
    assert len(events) == 1
    with pytest.raises(AdapterError):
        capacity_csv.adapt(csv_text, CTX)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("", "no header"),
        ("plant,line\nP,L\n", "lacks date, free_units, as_of \\(got plant, line\\)"),
        ("plant,line,date,units,as_of\n", "no data rows"),
        (b"plant\x81 ,line", r"neither UTF-8 nor Shift_JIS/cp932 \(byte 5, line 1\)"),
        ({"plant": "x"}, "must be text"),
    ],
)
def test_unusable_uploads(payload: object, reason: str) -> None:
    with pytest.raises(AdapterError, match=reason):
        capacity_csv.adapt(payload, CTX)


AS_OF = "2026-03-02T00:00:00Z"


@pytest.mark.parametrize(
    ("header", "cells", "loc", "msg"),
    [
        ("plant,line,date,free_units,as_of", f"P,L,2026-03-10,,{AS_OF}", "free_units",
         "field required"),
        ("plant,line,date,free_units,as_of", f"P,L,2026-03-10,many,{AS_OF}", "free_units",
         "must be a number"),
        ("Plant;Line;Date;Free Units;As Of", f"P;L;2026-03-10;-1;{AS_OF}", "Free Units",
         "must be 0..1e9"),
        ("plant,line,date,available,as_of", f"P,L,2026-03-10,x,{AS_OF}", "available",
         "must be a number"),
        ("plant,line,Day,units,as_of", f"P,L,2026/03/10,5,{AS_OF}", "Day", "not a date"),
        ("plant,line,date,units,Exported At", "P,L,2026-03-10,5,", "Exported At",
         "field required"),
    ],
)  # fmt: skip
def test_errors_name_the_column_as_the_export_wrote_it(
    header: str, cells: str, loc: str, msg: str
) -> None:
    with pytest.raises(AdapterError) as err:
        capacity_csv.adapt(f"{header}\n{cells}\n", CTX)
    [problem] = err.value.errors
    assert problem["loc"] == ["row", 2, loc]
    assert msg in problem["msg"]


@pytest.mark.parametrize("bad", ["2026年12月10日", "2026/12/10", "10.12.2026", "2026-13-01"])
def test_every_bad_date_gets_the_same_message(bad: str) -> None:
    with pytest.raises(AdapterError) as err:
        capacity_csv.adapt(f"plant,line,date,free_units,as_of\nP,L,{bad},5,{AS_OF}\n", CTX)
    [problem] = err.value.errors
    assert problem == {
        "loc": ["row", 2, "date"],
        "msg": f"not a date (YYYY-MM-DD): {bad!r}",
        "type": "date",
    }
