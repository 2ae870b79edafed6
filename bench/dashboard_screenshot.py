"""Retake the README's dashboard picture from ``handoff demo``'s data.

    .venv/bin/python -m bench.dashboard_screenshot [--out docs/img/dashboard-overview.png]

Runs ``handoff demo`` (local Kafka, the three services, the sample traffic of all three
stories), opens every dashboard page in Debian's Chromium through Playwright at
1366×768, writes each page to ``var/screenshots/demo/`` (English and Japanese) and the
English overview to ``--out``, then stops the demo (SIGINT, as Ctrl-C would), which
stops everything it started. The demo's ports must be free (8000, 8001, 6066, and 9092
unless ``HANDOFF_KAFKA_BOOTSTRAP`` names a broker).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx
from playwright.sync_api import Browser, ViewportSize, sync_playwright

VIEWPORT: ViewportSize = {"width": 1366, "height": 768}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path("var/screenshots/demo")
DASHBOARD_LINE = re.compile(r"^Dashboard: (?P<url>\S+)/dashboard")
ACME = "crm:001DEMO0000ACME"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/dashboard-overview.png"))
    parser.add_argument("--tickets", type=int, default=300)
    args = parser.parse_args()
    demo = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "demo", "--tickets", str(args.tickets)],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        api = _dashboard_url(demo)
        pages = _pages(api)
        _shoot(pages, args.out)
    finally:
        _stop(demo)
    print(f"wrote {args.out} and {len(pages)} pages in two languages under {SHOTS}/")
    return 0


def _dashboard_url(demo: subprocess.Popen[str], timeout: float = 300.0) -> str:
    """The API's base URL, from the line the demo prints once its traffic is through."""
    out: IO[str] | None = demo.stdout
    assert out is not None
    deadline = time.monotonic() + timeout
    for line in out:
        sys.stdout.write(line)
        if found := DASHBOARD_LINE.match(line):
            return found["url"]
        if time.monotonic() > deadline:
            break
    raise SystemExit(f"the demo never printed its dashboard URL (exit {demo.poll()})")


def _pages(api: str) -> dict[str, str]:
    """Every page, each opened on something the demo's traffic made."""
    with httpx.Client(base_url=api, timeout=10) as client:
        planning = client.get("/v1/teams/production-planning/tasks?state=all").json()["tasks"]
        teams = client.get("/v1/teams").json()["teams"]
    planned = next((t for t in planning if t["state"] != "resolved"), planning[0])
    busiest = max(teams, key=lambda t: sum(t["states"].values()) - t["resolved"])["team"]
    return {
        "overview": f"{api}/dashboard",
        "team-queue": f"{api}/dashboard/teams/{busiest}",
        "task": f"{api}/dashboard/tasks/{planned['task_id']}",
        "account": f"{api}/dashboard/accounts/{ACME}",
        "kpis": f"{api}/dashboard/kpis",
        "capacity": f"{api}/dashboard/capacity",
    }


def _shoot(pages: dict[str, str], overview_out: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for locale in ("en-US", "ja-JP"):
                _shoot_locale(browser, pages, locale)
        finally:
            browser.close()
    overview_out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHOTS / "overview-en.png", overview_out)


def _shoot_locale(browser: Browser, pages: dict[str, str], locale: str) -> None:
    context = browser.new_context(viewport=VIEWPORT, locale=locale, timezone_id="Asia/Tokyo")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        for name, url in pages.items():
            response = page.goto(url)
            if response is None or response.status != 200:
                raise SystemExit(f"{url}: {None if response is None else response.status}")
            page.wait_for_timeout(800)  # the charts draw after the scripts load
            shot = SHOTS / f"{name}-{locale[:2]}"
            page.screenshot(path=f"{shot}.png")
            page.screenshot(path=f"{shot}-full.png", full_page=True)
        if errors:
            raise SystemExit(f"console errors in {locale}: {errors}")
    finally:
        context.close()


def _stop(demo: subprocess.Popen[str]) -> None:
    """Ctrl-C for the demo: it stops every process it started, then exits."""
    if demo.poll() is None:
        os.killpg(demo.pid, signal.SIGINT)
    try:
        demo.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)
        demo.wait()


if __name__ == "__main__":
    sys.exit(main())
