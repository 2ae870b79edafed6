"""Fixtures for the API's unit tests: a migrated SQLite file, fakes for our own ports."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from schemas.events import TASK_ROUTED, CloudEvent, TaskRouted, derived_id, envelope
from services.api.app import create_app
from services.api.db import insert_origin_if_absent, insert_task_if_absent, make_engine, upgrade
from services.api.errors import FeedbackUnavailableError
from services.api.projection import origin_row, task_row
from services.api.rollups import retally, snapshot
from services.api.settings import ApiSettings

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeFeedbackPublisher:
    """Records what it publishes; fails with ``FeedbackUnavailableError`` when ``down``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, CloudEvent]] = []
        self.down = False
        self.closed = False

    def publish(self, event: CloudEvent, *, key: str) -> None:
        if self.down:
            raise FeedbackUnavailableError("no acknowledgement (broker down)")
        self.sent.append((key, event))

    def close(self) -> None:
        self.closed = True


MakeRouted = Callable[..., CloudEvent]


@pytest.fixture
def make_routed() -> MakeRouted:
    """Factory: a task.routed CloudEvent; keyword overrides go into its data."""

    def make(source_event_id: str = "zendesk-1", **overrides: Any) -> CloudEvent:
        fields: dict[str, Any] = {
            "task_id": derived_id("task", source_event_id),
            "source_event_id": source_event_id,
            "source": "/zendesk/acme",
            "team": "billing-ui",
            "rule": "component:billing-ui",
            "account": "example.co.jp",
            "priority": "high",
            "component": "billing-ui",
            "subject": "請求書の画面が分かりにくい",
            "description": "支払い方法の変更ボタンが見つかりません",
            "requester_email": "taro@example.co.jp",
            "raised_at": T0 - timedelta(minutes=10),
            "routed_at": T0 - timedelta(minutes=9),
            "sla_due": T0 + timedelta(hours=4),
        }
        fields.update(overrides)
        data = TaskRouted.model_validate(fields)
        return envelope(
            type_=TASK_ROUTED,
            source="/handoff/router",
            data=data,
            time=data.routed_at,
            event_id=derived_id("task.routed", source_event_id),
        )

    return make


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to the newest revision; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "handoff.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(tmp_path: Path, migrated_template: Path) -> str:
    target = tmp_path / "var" / "handoff.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


AddTask = Callable[..., str]


@pytest.fixture
def add_task(engine: sa.Engine, make_routed: MakeRouted) -> AddTask:
    """Factory: store a routed task as the projector would; returns its task_id."""

    def add(source_event_id: str = "zendesk-1", **overrides: Any) -> str:
        event = make_routed(source_event_id, **overrides)
        row = task_row(event, projected_at=T0)
        origin = origin_row(event, row)
        with engine.begin() as conn:
            before = snapshot(conn, [row["task_id"]])  # the figures' rollups, as the projector
            insert_task_if_absent(conn, row)
            if origin is not None:  # as the projector does for every request of a group
                insert_origin_if_absent(conn, origin)
            retally(conn, [row["task_id"]], before)
        return str(row["task_id"])

    return add


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def publisher() -> FakeFeedbackPublisher:
    return FakeFeedbackPublisher()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def settings(db_url: str) -> ApiSettings:
    return ApiSettings(
        database_url=db_url,
        api_projector=False,
        api_delivery=False,
        api_auth="off",
        api_page_size_max=50,
    )


@pytest.fixture
def client(
    settings: ApiSettings,
    engine: sa.Engine,
    publisher: FakeFeedbackPublisher,
    registry: CollectorRegistry,
    clock: FakeClock,
) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine, publisher=publisher, registry=registry, clock=clock)
    with TestClient(app) as client:
        yield client
