"""The live stream's look at the tasks: a change, or a deadline passing, is seen once."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.api.dashboard.live import Watch, event
from services.api.db import TASKS
from tests.unit.services.api.conftest import T0, AddTask, FakeClock


def test_a_changed_task_is_seen_once(
    client: TestClient, engine: sa.Engine, add_task: AddTask
) -> None:
    watch = Watch(client.app.state.api)  # type: ignore[attr-defined]
    task = add_task("z-1")
    assert not watch.changed()  # the first look only remembers
    assert not watch.changed()
    touch(engine, task, 5)  # a change: the projector or an action stamps updated_at
    assert watch.changed()
    assert not watch.changed()
    touch(engine, add_task("z-2"), 9)  # a new task, projected now
    assert watch.changed()


def touch(engine: sa.Engine, task: str, seconds: int) -> None:
    with engine.begin() as conn:
        at = T0 + timedelta(seconds=seconds)
        conn.execute(TASKS.update().where(TASKS.c.task_id == task).values(updated_at=at))


def test_an_sla_mark_passing_is_a_change(
    client: TestClient, add_task: AddTask, clock: FakeClock
) -> None:
    add_task("z-1", sla_due=T0 + timedelta(hours=2))
    watch = Watch(client.app.state.api)  # type: ignore[attr-defined]
    watch.changed()
    clock.advance(50 * 60)
    assert not watch.changed()
    clock.advance(11 * 60)  # due within the hour now: at risk
    assert watch.changed()
    assert not watch.changed()
    clock.advance(60 * 60)  # due: breached
    assert watch.changed()
    clock.advance(3600)
    assert not watch.changed()


def test_an_event_is_what_eventsource_reads() -> None:
    assert event("change", {"at": "x"}) == 'event: change\ndata: {"at": "x"}\n\n'


def test_the_stream_opens_with_what_it_saw(client: TestClient) -> None:
    """With auth off everyone is admin (as /v1): the stream opens at once."""
    with client.stream("GET", "/dashboard/events") as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        first = next(answer.iter_text())
        assert first.startswith("retry: 1000\nid: ")


def test_a_new_stream_catches_up_with_what_the_last_one_saw(
    client: TestClient, engine: sa.Engine, add_task: AddTask, clock: FakeClock
) -> None:
    """The browser reconnects with Last-Event-ID: a change in between is not lost."""
    task = add_task("z-1", sla_due=T0 + timedelta(hours=3))
    api = client.app.state.api  # type: ignore[attr-defined]
    first = Watch(api)
    first.changed()
    assert not Watch(api, resumed=first.token).changed()  # nothing happened in between
    touch(engine, task, 5)
    assert Watch(api, resumed=first.token).changed()
    seen = Watch(api)
    seen.changed()
    clock.advance(2 * 3600 + 60)  # the at-risk mark passed while no stream was open
    assert Watch(api, resumed=seen.token).changed()
