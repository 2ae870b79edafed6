"""``serve`` runs the app on the configured address (uvicorn replaced at the edge)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from services.ingest import server
from services.ingest.settings import IngestSettings


@pytest.fixture
def kafka_log_level() -> Iterator[None]:
    kafka = logging.getLogger("kafka")
    level = kafka.level
    yield
    kafka.setLevel(level)


def test_serve_runs_the_ingest_app_on_the_settings_address(
    monkeypatch: pytest.MonkeyPatch, kafka_log_level: None
) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))

    server.serve(IngestSettings(ingest_host="0.0.0.0", ingest_port=18001))

    [(app, options)] = calls
    assert isinstance(app, FastAPI)
    assert "/v1/sources/support/tickets" in {getattr(r, "path", "") for r in app.routes}
    assert (options["host"], options["port"]) == ("0.0.0.0", 18001)
