"""The dashboard's pages through the app (SQLite, auth required): sign-in, CSRF, visibility."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.api.app import create_app
from services.api.auth import create_token
from services.api.settings import ApiSettings
from services.api.tracker_store import TrackerStore
from services.connectors.base import IssueRef
from tests.unit.services.api.conftest import T0, AddTask, FakeClock, FakeFeedbackPublisher


@pytest.fixture
def app_client(
    db_url: str,
    engine: sa.Engine,
    publisher: FakeFeedbackPublisher,
    clock: FakeClock,
) -> Iterator[TestClient]:
    settings = ApiSettings(
        database_url=db_url, api_projector=False, api_delivery=False, api_auth="required"
    )
    app = create_app(
        settings, engine=engine, publisher=publisher, registry=CollectorRegistry(), clock=clock
    )
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def token(engine: sa.Engine, team: str | None, scope: str = "write") -> str:
    return create_token(engine, team=team, scope=scope, name="t", now=T0).token  # type: ignore[arg-type]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(client: TestClient, value: str) -> None:
    form = client.get("/dashboard/sign-in")
    answer = client.post(
        "/dashboard/sign-in",
        data={"token": value, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def test_pages_need_sign_in(app_client: TestClient) -> None:
    answer = app_client.get("/dashboard", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/sign-in"


def test_sign_in_sets_a_signed_httponly_cookie(app_client: TestClient, engine: sa.Engine) -> None:
    form = app_client.get("/dashboard/sign-in")
    answer = app_client.post(
        "/dashboard/sign-in",
        data={"token": token(engine, "billing-ui"), "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/dashboard" in cookie
    assert "hf_" not in cookie  # the token itself never travels in the cookie
    assert app_client.get("/dashboard").status_code == 200


def test_a_form_without_the_csrf_token_is_refused(
    app_client: TestClient, engine: sa.Engine
) -> None:
    app_client.get("/dashboard/sign-in")
    answer = app_client.post(
        "/dashboard/sign-in", data={"token": token(engine, None, "admin"), "csrf": "forged"}
    )
    assert answer.status_code == 403
    assert app_client.get("/dashboard", follow_redirects=False).status_code == 303


def test_an_unknown_token_is_refused(app_client: TestClient) -> None:
    form = app_client.get("/dashboard/sign-in")
    answer = app_client.post(
        "/dashboard/sign-in", data={"token": "hf_nope", "csrf": csrf_of(form.text)}
    )
    assert answer.status_code == 401
    assert 'data-error="error_token"' in answer.text


def test_another_teams_task_is_a_404(
    app_client: TestClient, engine: sa.Engine, add_task: AddTask
) -> None:
    mine = add_task("z-1", team="billing-ui")
    theirs = add_task("z-2", team="payments")
    sign_in(app_client, token(engine, "billing-ui"))
    assert app_client.get(f"/dashboard/tasks/{mine}").status_code == 200
    hidden = app_client.get(f"/dashboard/tasks/{theirs}")
    assert hidden.status_code == 404
    assert "sse-connect" not in hidden.text  # a 404 is not live: it would fetch itself again
    assert app_client.get("/dashboard/teams/payments").status_code == 404


def test_resolving_from_the_page_runs_the_lifecycle(
    app_client: TestClient, engine: sa.Engine, add_task: AddTask, publisher: FakeFeedbackPublisher
) -> None:
    task = add_task("z-1", team="billing-ui")
    sign_in(app_client, token(engine, "billing-ui"))
    page = app_client.get("/dashboard/teams/billing-ui")
    assert 'data-action="resolve"' in page.text
    answer = app_client.post(
        f"/dashboard/tasks/{task}/resolve",
        data={"csrf": csrf_of(page.text), "message": "直しました"},
        follow_redirects=False,
    )
    assert answer.headers["location"].endswith("?done=resolve")
    detail = app_client.get(f"/dashboard/tasks/{task}")
    assert 'data-state="resolved"' in detail.text
    assert "task.feedback" in {event.type for _, event in publisher.sent}


@pytest.mark.parametrize(("lang", "word"), [("ja", "誰が誰を待っているか"), ("en", "Who waits")])
def test_the_language_follows_the_browser(
    app_client: TestClient, engine: sa.Engine, add_task: AddTask, lang: str, word: str
) -> None:
    add_task("z-1")
    sign_in(app_client, token(engine, None, "admin"))
    page = app_client.get("/dashboard", headers={"Accept-Language": f"{lang},en;q=0.5"})
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.text
    assert word in page.text


def test_the_pages_stay_out_of_the_openapi_document(app_client: TestClient) -> None:
    paths = app_client.get("/openapi.json").json()["paths"]
    assert paths
    assert not [path for path in paths if path.startswith("/dashboard")]


def test_the_static_files_are_served_and_nothing_beside_them(app_client: TestClient) -> None:
    assert app_client.get("/dashboard/static/vendor/htmx/htmx.min.js").status_code == 200
    assert app_client.get("/dashboard/static/vendor/uplot/LICENSE").status_code == 200
    assert app_client.get("/dashboard/static/../routes.py").status_code == 404
    assert app_client.get("/dashboard/static/%2e%2e/routes.py").status_code == 404


def test_the_language_switch_only_goes_back_to_the_dashboard(app_client: TestClient) -> None:
    answer = app_client.get(
        "/dashboard/lang/ja", params={"next": "//evil.example/x"}, follow_redirects=False
    )
    assert answer.headers["location"] == "/dashboard"
    assert "handoff_lang=ja" in answer.headers["set-cookie"]
    answer = app_client.get(
        "/dashboard/lang/en", params={"next": "/dashboard/kpis"}, follow_redirects=False
    )
    assert answer.headers["location"] == "/dashboard/kpis"


def test_the_live_stream_needs_a_signed_in_viewer(app_client: TestClient) -> None:
    assert app_client.get("/dashboard/events").status_code == 401


def test_a_tracker_that_refused_shows_on_the_task_and_its_page(
    app_client: TestClient, engine: sa.Engine, add_task: AddTask, clock: FakeClock
) -> None:
    """Issue 14: a task parked because its tracker kept refusing is visible on the task (API
    and page) with the tracker's answer, until a later call succeeds."""
    task = add_task("z-1", team="billing-ui")
    store = TrackerStore(engine, "billing-ui", "github")
    store.claim(task, {"subject": "請求書"}, T0)
    reason = "GitHub answered HTTP 401 after 1 attempt: Bad credentials"
    store.failed(task, reason, T0)
    value = token(engine, "billing-ui")
    detail = app_client.get(f"/v1/tasks/{task}", headers={"Authorization": f"Bearer {value}"})
    [tracker] = detail.json()["trackers"]
    assert (tracker["kind"], tracker["state"], tracker["last_error"]) == (
        "github",
        "failed",
        reason,
    )
    sign_in(app_client, value)
    page = app_client.get(f"/dashboard/tasks/{task}", headers={"Accept-Language": "ja"}).text
    assert 'data-tracker-state="failed"' in page
    assert "Bad credentials" in page
    assert "トラッカーが拒否" in page
    store.record(task, IssueRef("42", "https://github.com/acme/billing/issues/42"), {}, T0)
    synced = app_client.get(f"/dashboard/tasks/{task}").text
    assert 'data-tracker-state="synced"' in synced
    assert 'href="https://github.com/acme/billing/issues/42"' in synced
    assert "Bad credentials" not in synced
