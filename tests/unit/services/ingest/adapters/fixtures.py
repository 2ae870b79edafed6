"""Payload fixtures (tests/fixtures/ingest) and a fixed adapter context."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.ingest.adapters.base import AdapterContext

FIXTURES = Path(__file__).resolve().parents[5] / "tests" / "fixtures" / "ingest"
RECEIVED = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CTX = AdapterContext(received_at=RECEIVED)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")
