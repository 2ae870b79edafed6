"""The capacity samples the README points plants to are read as documented."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from schemas.events import ProductionCapacity
from services.ingest.adapters import capacity_csv
from services.ingest.adapters.base import AdapterContext

SAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "capacity"
CTX = AdapterContext(received_at=datetime(2026, 11, 30, 1, 0, tzinfo=UTC))


def test_the_csv_sample_is_one_event_per_line() -> None:
    outs = capacity_csv.adapt((SAMPLES / "capacity-sample.csv").read_bytes(), CTX)
    models = [ProductionCapacity.model_validate(out.event.data) for out in outs]
    assert [(m.plant, m.line, m.products) for m in models] == [
        ("hamamatsu-2", "l1", ["wx-300"]),
        ("hamamatsu-2", "l2", ["wx-200", "wx-300"]),
        ("nagoya-1", "l1", ["wx-200"]),
    ]
    assert [d.units for d in models[1].free] == [1200, 1800]


def test_the_json_sample_is_a_production_capacity() -> None:
    doc = json.loads((SAMPLES / "capacity-sample.json").read_text(encoding="utf-8"))
    assert ProductionCapacity.model_validate(doc).products == ["wx-200", "wx-300"]
