"""The dashboard in a real Chromium (Debian's ``chromium``, driven by Playwright).

A real API process (SQLite; answers published on the session's Kafka broker)
serves a seeded data set: ``task.routed`` events as the router sends them,
stored by the API's own projector code. The browser signs in with a team
token and reads the pages. Each page is screenshotted at 1366x768 in both
languages under ``var/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
from prometheus_client import CollectorRegistry

from schemas import topics
from schemas.events import TASK_ROUTED, TaskRouted, derived_id, envelope
from services.api.auth import create_token
from services.api.consumer import ProjectorConfig
from services.api.db import make_engine, upgrade
from services.api.metrics import ApiMetrics
from services.api.projector import Projector
from services.kafka_admin import ensure_handoff_topics
from services.local.kafka import free_port
from tests.processes import REPO_ROOT, Service, spawn, stop, wait_healthy

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = REPO_ROOT / "var" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}
TEAMS = ("billing-ui", "planning", "payments", "marketing")


# --- the seeded data set ------------------------------------------------------------------------


def routed_event(run: str, n: int, now: datetime, **fields: Any) -> tuple[str, bytes, str]:
    """A ``task.routed`` as the router publishes it; (account, bytes, task id)."""
    source_event_id = f"zd-{run}-{n}"
    raised = now - timedelta(hours=fields.pop("age_h", 2))
    data: dict[str, Any] = {
        "task_id": derived_id("task", source_event_id),
        "source_event_id": source_event_id,
        "source": "/sources/support",
        "team": "billing-ui",
        "rule": "component:billing-ui",
        "account": f"acme-{n % 3}.example.co.jp",
        "priority": "high",
        "component": "billing-ui",
        "subject": f"請求書の画面が分かりにくい #{n}",
        "description": "支払い方法の変更ボタンが見つかりません",
        "requester_email": f"taro{n}@acme-{n % 3}.example.co.jp",
        "raised_at": raised,
        "routed_at": raised + timedelta(seconds=3),
        "sla_due": raised + timedelta(hours=fields.pop("sla_h", 8)),
        "department": "support",
    }
    data.update(fields)
    routed = TaskRouted.model_validate(data)
    event = envelope(
        type_=TASK_ROUTED,
        source="/handoff/router",
        data=routed,
        time=routed.routed_at,
        event_id=derived_id("task.routed", source_event_id),
    )
    return routed.account, event.to_bytes(), routed.task_id


def seed_events(run: str, now: datetime) -> list[tuple[str, bytes, str]]:
    """Support -> billing-ui (one grouped, one breached, one at risk), sales -> planning
    (one the router answered at once), support -> payments, sales -> marketing."""
    grouped = {"event_count": 3, "summary": "3 requests, 2 accounts"}
    grouped["event_ids"] = [f"zd-{run}-0", f"zd-{run}-0b", f"zd-{run}-0c"]  # type: ignore[assignment]
    sales = {"source": "/sources/sales", "department": "sales", "team": "planning",
             "rule": "kind:rush_order", "component": None}  # fmt: skip
    answered_at = now - timedelta(hours=5, minutes=59)
    specs: list[dict[str, Any]] = [
        grouped,
        {"age_h": 10, "sla_h": 4},  # breached
        {"age_h": 7.5, "sla_h": 8},  # at risk: due within the hour
        {"age_h": 1},
        {"age_h": 3},
        {**sales, "age_h": 26, "subject": "500 units by the 12th"},
        {**sales, "age_h": 6, "routed_at": answered_at, "answered_at": answered_at,
         "answer": "feasible, earliest date 2026-12-10", "subject": "200 units by the 20th"},
        {**sales, "team": "marketing", "rule": "kind:deal_outcome", "age_h": 4},
        {"team": "payments", "rule": "component:payments", "age_h": 2},
        {"team": "payments", "rule": "component:payments", "age_h": 30},
    ]  # fmt: skip
    return [routed_event(run, n, now, **spec) for n, spec in enumerate(specs)]


# --- the platform: one API process ----------------------------------------------------------------


@dataclass
class Dashboard:
    url: str
    service: Service
    tokens: dict[str, str]
    tasks: list[str]
    errors: list[str] = field(default_factory=list)

    def api(self, method: str, path: str, token: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"}
        answer = httpx.request(method, self.url + path, headers=headers, timeout=10, **kw)
        assert answer.status_code < 300, (path, answer.text, self.service.tail())
        return answer.json()


@dataclass(frozen=True)
class Record:
    """A ``handoff.routed`` record as the projector's consumer hands it over."""

    key: bytes
    value: bytes
    offset: int
    topic: str = topics.ROUTED
    partition: int = 0


class NoDeadLetters:
    """A seeded event the projector refuses fails the test (it would be dead-lettered)."""

    def send(self, key: bytes | None, value: bytes) -> None:
        raise AssertionError(f"the projector refused a seeded event: {value[:300]!r}")

    def close(self) -> None:
        return None


def project(database_url: str, events: list[tuple[str, bytes, str]]) -> None:
    """Store the seeded events with the API's own projector code (rows and rollups in one
    transaction), record by record: the API process's Kafka consumer is tested elsewhere
    (test_api_kafka), and waiting for a consumer group to form made this test flaky on a
    busy machine."""
    engine = make_engine(database_url)
    config = ProjectorConfig(bootstrap="127.0.0.1:1", group_id="unused")
    projector = Projector(
        engine, config, metrics=ApiMetrics(CollectorRegistry()), dead_letters=NoDeadLetters()
    )
    try:
        for offset, (account, value, _) in enumerate(events):
            assert projector.handle(Record(account.encode(), value, offset)) == "inserted"
    finally:
        engine.dispose()


def make_tokens(url: str) -> dict[str, str]:
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        made = {
            "billing": create_token(engine, team="billing-ui", scope="write", name="b", now=now),
            "payments": create_token(engine, team="payments", scope="write", name="p", now=now),
            "admin": create_token(engine, team=None, scope="admin", name="a", now=now),
        }
    finally:
        engine.dispose()
    return {name: token.token for name, token in made.items()}


def api_env(bootstrap: str, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(
        HANDOFF_KAFKA_BOOTSTRAP=bootstrap,
        HANDOFF_DATABASE_URL=database_url,
        HANDOFF_API_PORT=str(free_port()),
        HANDOFF_API_AUTH="required",
        HANDOFF_API_DELIVERY="false",
        HANDOFF_API_PROJECTOR="false",  # the test stores the seeded tasks (see project())
        HANDOFF_API_RULES_FILE=str(REPO_ROOT / "deploy" / "config" / "routing.yaml"),
        HANDOFF_DASHBOARD_SECRET=uuid.uuid4().hex,
    )
    return env


@pytest.fixture(scope="module")
def dashboard(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    home = tmp_path_factory.mktemp("dashboard")
    database_url = f"sqlite:///{home / 'handoff.db'}"
    upgrade(database_url)
    ensure_handoff_topics(kafka_bootstrap, TEAMS, 4)  # resolving publishes the answer
    env = api_env(kafka_bootstrap, database_url)
    service = spawn("api", f"http://127.0.0.1:{env['HANDOFF_API_PORT']}", env, home)
    try:
        wait_healthy(service)
        events = seed_events(uuid.uuid4().hex[:8], datetime.now(UTC))
        project(database_url, events)
        board = Dashboard(service.url, service, make_tokens(database_url), [e[2] for e in events])
        assert _projected(board) == len(events)
        yield board
    finally:
        stop(service.proc)


def _projected(board: Dashboard) -> int:
    return len(board.api("GET", "/v1/tasks?limit=100", "admin")["tasks"])


# --- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        "Debian's chromium is missing: run deploy/scripts/ensure-system.sh --with-postgres "
        "(apt-get install chromium)"
    )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


OpenPage = Callable[..., Page]


@pytest.fixture
def open_page(browser: Browser, dashboard: Dashboard) -> Iterator[OpenPage]:
    """Fresh browser contexts (own cookies) whose console errors are noted; closed after."""
    contexts: list[BrowserContext] = []

    def opened(locale: str = "en-US") -> Page:
        context = browser.new_context(viewport=VIEWPORT, locale=locale, timezone_id="Asia/Tokyo")
        contexts.append(context)
        page = context.new_page()

        def note(message: ConsoleMessage) -> None:
            if message.type == "error":
                dashboard.errors.append(f"{page.url}: {message.text}")

        page.on("console", note)
        page.on("pageerror", lambda error: dashboard.errors.append(f"{page.url}: {error}"))
        return page

    yield opened
    for context in contexts:
        context.close()
    dashboard.errors.clear()


def sign_in(page: Page, board: Dashboard, token: str) -> None:
    page.goto(board.url + "/dashboard")
    assert page.url.endswith("/dashboard/sign-in")
    page.fill("#token", board.tokens[token])
    page.click("form.signin button[type=submit]")
    page.wait_for_url(board.url + "/dashboard")


def shoot(page: Page, name: str) -> None:
    """The page at 1366x768, and the whole of it (``-full``: the README's picture)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)  # the charts draw after the scripts load
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.screenshot(path=str(SHOTS / f"{name}-full.png"), full_page=True)


def live(page: Page) -> None:
    """Until the page's event stream is open (the header's live mark)."""
    page.wait_for_selector("body[data-live=open]", timeout=10_000)


def number(page: Page, selector: str) -> int:
    return int(page.inner_text(selector).strip())


# --- the tests ---------------------------------------------------------------------------------


def test_the_overview_shows_the_apis_numbers(open_page: OpenPage, dashboard: Dashboard) -> None:
    page = open_page()
    sign_in(page, dashboard, "billing")
    teams = dashboard.api("GET", "/v1/teams", "billing")["teams"]
    window = {"since": since(page)}
    pairs = dashboard.api("GET", "/v1/stats/who-waits", "billing", params=window)["pairs"]
    assert [t["team"] for t in teams] == ["billing-ui"]  # a team token: its own standing
    assert number(page, "[data-total=open]") == sum(t["backlog"] for t in teams)
    assert number(page, "[data-total=breached]") == sum(t["sla_breached"] for t in teams) == 1
    assert number(page, "[data-total=at_risk]") == 1
    for team in teams:
        row = f"tr[data-team={team['team']}]"
        assert number(page, f"{row} [data-col=open]") == team["backlog"]
        assert number(page, f"{row} [data-col=breached]") == team["sla_breached"]
    shown = {
        cell.get_attribute("data-cell"): (
            int(cell.get_attribute("data-open") or -1),
            int(cell.get_attribute("data-open-requests") or -1),
        )
        for cell in page.query_selector_all("td[data-cell]")
    }
    assert shown == {
        f"{p['department']}|{p['team']}": (p["open"], p["open_requests"]) for p in pairs
    }
    assert shown["support|billing-ui"][0] == 5
    assert shown["support|payments"] == (2, 2)  # aggregates cover every team, as /v1/stats
    assert number(page, "[data-answers=router]") == sum(p["router_answered"] for p in pairs) == 1
    assert number(page, "[data-answers=human]") == sum(p["answered"] for p in pairs)
    assert dashboard.errors == []


def since(page: Page) -> str:
    """The window start the overview used (its <time datetime>), for the API's query."""
    value = page.get_attribute(".since time", "datetime")
    assert value
    return value


def test_resolving_through_the_api_updates_open_pages(
    open_page: OpenPage, dashboard: Dashboard
) -> None:
    overview, queue = open_page(), open_page()
    sign_in(overview, dashboard, "billing")
    sign_in(queue, dashboard, "billing")
    queue.goto(dashboard.url + "/dashboard/teams/billing-ui")
    live(overview)
    live(queue)
    before = number(overview, "[data-total=open]")
    task = dashboard.tasks[3]
    assert queue.query_selector(f'tr[data-task="{task}"]') is not None
    body = {"message": "Fixed in release 4.2 / 修正しました"}
    dashboard.api("POST", f"/v1/tasks/{task}/resolve", "billing", json=body)
    started = time.monotonic()
    overview.wait_for_function(
        f"document.querySelector('[data-total=open]').textContent.trim() === '{before - 1}'",
        timeout=2000,
    )
    left = 2000 - (time.monotonic() - started) * 1000
    queue.wait_for_selector(f'tr[data-task="{task}"]', state="detached", timeout=max(left, 1))
    assert time.monotonic() - started <= 2.0
    assert dashboard.errors == []


def test_another_teams_task_is_not_found(open_page: OpenPage, dashboard: Dashboard) -> None:
    page = open_page()
    sign_in(page, dashboard, "billing")
    theirs = dashboard.tasks[8]  # payments'
    hidden = [
        f"{dashboard.url}/dashboard/tasks/{theirs}",
        f"{dashboard.url}/dashboard/teams/payments",
    ]
    for url in hidden:
        answer = page.goto(url)
        assert answer is not None
        assert answer.status == 404, url
        assert page.query_selector("[data-not-found]") is not None
    dashboard.api("GET", f"/v1/tasks/{theirs}", "payments")  # it exists: only hidden
    # Chromium logs the 404 document itself as a failed resource: that one is expected
    expected = [f"{url}: Failed to load resource: the server responded with a status of 404"
                for url in hidden]  # fmt: skip
    assert [e for e in dashboard.errors if not any(e.startswith(x) for x in expected)] == []


PAGES = {
    "overview": "/dashboard",
    "team": "/dashboard/teams/billing-ui",
    "task": "/dashboard/tasks/{task}",
    "account": "/dashboard/accounts/acme-0.example.co.jp",
    "kpis": "/dashboard/kpis",
    "capacity": "/dashboard/capacity",
}
WORDS = {"ja": ("依頼元部署", "タイムライン"), "en": ("Asking department", "Timeline")}


@pytest.mark.parametrize(("locale", "lang"), [("ja-JP", "ja"), ("en-US", "en")])
def test_every_page_renders_in_both_languages(
    open_page: OpenPage, dashboard: Dashboard, locale: str, lang: str
) -> None:
    page = open_page(locale)
    page.goto(dashboard.url + "/dashboard/sign-in")
    assert page.get_attribute("html", "lang") == lang
    shoot(page, f"sign-in-{lang}")
    sign_in(page, dashboard, "billing")
    for name, path in PAGES.items():
        answer = page.goto(dashboard.url + path.format(task=dashboard.tasks[0]))
        assert answer is not None
        assert answer.status == 200, name
        assert page.get_attribute("html", "lang") == lang, name
        shoot(page, f"{name}-{lang}")
    page.goto(dashboard.url + "/dashboard")
    assert WORDS[lang][0] in page.inner_text("main")
    page.goto(dashboard.url + PAGES["task"].format(task=dashboard.tasks[0]))
    assert WORDS[lang][1] in page.inner_text("main")
    page.click("[data-lang-switch]")  # the switch: the other language, same page
    assert page.get_attribute("html", "lang") == ("en" if lang == "ja" else "ja")
    assert dashboard.errors == []


def test_a_form_being_filled_in_is_not_swapped_away(
    open_page: OpenPage, dashboard: Dashboard
) -> None:
    page = open_page()
    sign_in(page, dashboard, "billing")
    page.goto(dashboard.url + "/dashboard/teams/billing-ui")
    live(page)
    kept, other = dashboard.tasks[4], dashboard.tasks[2]
    page.click(f'details[data-actions="{kept}"] summary')
    field = f'details[data-actions="{kept}"] form[data-action=comment] input[name=message]'
    page.fill(field, "確認中です")
    body = {"message": "Handled / 対応しました"}
    dashboard.api("POST", f"/v1/tasks/{other}/resolve", "billing", json=body)
    page.wait_for_timeout(2500)  # a change arrived; the page waits for the form
    assert page.input_value(field) == "確認中です"
    assert page.query_selector(f'tr[data-task="{other}"]') is not None
    page.click(f'details[data-actions="{kept}"] form[data-action=comment] button')
    page.wait_for_url(f"**/dashboard/tasks/{kept}?done=comment")
    assert "確認中です" in page.inner_text(".timeline")
    assert dashboard.errors == []
