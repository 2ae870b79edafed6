"""``/readyz`` (issue 10, "Health that tells the truth"): 200 only when the API can work now.

``/healthz`` says the parts are alive (tests in test_api_app.py); ``/readyz`` also asks
that the database answers and that the projector, when it runs, polled successfully lately.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.api.app import create_app
from services.api.consumer import ProjectorConfig
from services.api.metrics import ApiMetrics
from services.api.projector import Projector
from services.api.settings import ApiSettings

from .test_api_projector import FakeConsumer, FakeDeadLetters, wait_for


@dataclass
class StubProjector:
    """What /readyz asks of the running projector."""

    alive: bool = True
    ago: float | None = None

    def is_alive(self) -> bool:
        return self.alive

    def polled_ago(self) -> float | None:
        return self.ago


def with_projector(settings: ApiSettings, engine: sa.Engine, publisher: Any, stub: Any) -> Any:
    """An app configured to run the projector, with ``stub`` as the one running (no lifespan)."""
    ready_within = settings.model_copy(update={"api_ready_projector_s": 30.0})
    app = create_app(ready_within, engine=engine, publisher=publisher, start_projector=True)
    app.state.projector = stub
    return TestClient(app)


def test_ready_with_the_database_up_and_the_projector_disabled(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "projector": "disabled"},
    }


def test_not_ready_when_the_database_does_not_answer(
    tmp_path: Path, settings: ApiSettings, publisher: Any
) -> None:
    missing = sa.create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'h.db'}")
    with TestClient(create_app(settings, engine=missing, publisher=publisher)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    assert response.json()["checks"]["database"].startswith("unreachable")


@pytest.mark.parametrize(
    ("stub", "status", "says"),
    [
        (None, 503, "not running"),  # configured, never started
        (StubProjector(alive=False, ago=1.0), 503, "not running"),
        (StubProjector(ago=None), 503, "no successful poll yet"),
        (StubProjector(ago=45.2), 503, "no successful poll for 45 s"),
        (StubProjector(ago=2.0), 200, "ok"),
    ],
)
def test_ready_only_while_the_projector_runs_and_polled_lately(
    settings: ApiSettings, engine: sa.Engine, publisher: Any, stub: Any, status: int, says: str
) -> None:
    response = with_projector(settings, engine, publisher, stub).get("/readyz")
    assert response.status_code == status
    assert response.json()["checks"] == {"database": "ok", "projector": says}
    assert response.json()["status"] == ("ready" if status == 200 else "not_ready")


def test_healthz_is_unchanged_by_readiness(
    settings: ApiSettings, engine: sa.Engine, publisher: Any
) -> None:
    stale = with_projector(settings, engine, publisher, StubProjector(ago=None))
    assert stale.get("/healthz").json()["checks"]["projector"] == "ok"  # alive, not ready


class UnassignedConsumer(FakeConsumer):
    """A consumer not (yet) in the group: its polls say nothing of the broker."""

    def __init__(self, values: list[bytes | None]) -> None:
        super().__init__(values)
        self.polls = 0

    def poll(self, timeout_ms: int) -> Any:
        self.polls += 1
        return super().poll(timeout_ms)

    def assignment(self) -> set[Any]:
        return set()


@pytest.mark.parametrize(("consumer", "polls"), [(FakeConsumer, True), (UnassignedConsumer, False)])
def test_the_projector_notes_a_successful_poll_only_with_partitions_assigned(
    engine: sa.Engine, consumer: type[FakeConsumer], polls: bool
) -> None:
    made = consumer([])
    projector = Projector(
        engine,
        ProjectorConfig(bootstrap="unused:9092", group_id="g", poll_timeout_ms=10),
        metrics=ApiMetrics(CollectorRegistry()),
        dead_letters=FakeDeadLetters(),
        consumer_factory=lambda _config: made,
    )
    assert projector.polled_ago() is None
    projector.start()
    try:
        if polls:
            wait_for(lambda: projector.polled_ago() is not None)
            assert (projector.polled_ago() or 0.0) < 5.0
        else:
            wait_for(lambda: getattr(made, "polls", 0) >= 3)
            assert projector.polled_ago() is None
    finally:
        projector.stop()
