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
        ("plant,line\nP,L\n", "lacks date, units, as_of"),
        ("plant,line,date,units,as_of\n", "no data rows"),
        (b"\xff\xfe", "UTF-8"),
        ({"plant": "x"}, "must be text"),
    ],
)
def test_unusable_uploads(payload: object, reason: str) -> None:
    with pytest.raises(AdapterError, match=reason):
        capacity_csv.adapt(payload, CTX)
