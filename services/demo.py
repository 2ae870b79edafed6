"""``handoff demo``: the whole platform on local defaults, with sample traffic.

Starts (or reuses) the local Kafka broker, the router, ingest and API services
as child processes, posts realistic tickets, lets the owning teams answer a
share of them, and prints what happened as the API reports it. Ctrl-C stops
every process it started, by PID.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from services import demo_stories as stories
from services.api.settings import ApiSettings
from services.config import ServiceSettings
from services.ingest.settings import IngestSettings
from services.local.kafka import KAFKA_VERSION, LocalKafka, LocalKafkaError, default_local_kafka
from services.local.processes import terminate
from services.router.settings import RouterSettings
from services.traffic import ANSWERS, OVERDUE_SUBJECTS, overdue_tickets, sample_tickets
from services.traffic_sales import sales_traffic

DEMO_HOME = Path("var/demo")
SIGNED_SOURCES = ("sales", "capacity")


class DemoError(RuntimeError):
    """The demo could not bring the platform up or see the traffic through."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Platform:
    """The processes the demo started; stopped in reverse order."""

    children: list[Child] = field(default_factory=list)
    broker: LocalKafka | None = None

    def stop(self) -> None:
        for child in reversed(self.children):
            terminate(child.proc)
        self.children.clear()
        if self.broker is not None:
            self.broker.down()
            self.broker = None


def run_demo(
    settings: ServiceSettings,
    tickets: int,
    resolve_share: float,
    exit_after_summary: bool,
    summary_json: Path | None = None,
) -> int:
    platform = Platform()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    summary: dict[str, Any] | None = None
    try:
        bootstrap = _kafka(platform)
        env = _environment(bootstrap)
        urls = _start_services(platform, env)
        summary = _traffic(urls, tickets, resolve_share, _secrets(env))
        _print_summary(summary, urls, platform)
        _print_dashboard(urls["api"], env["HANDOFF_DATABASE_URL"], summary["teams"])
        if summary_json is not None:
            summary_json.write_text(json.dumps(summary, ensure_ascii=False, indent=2))
        if not exit_after_summary:
            print("\nThe platform keeps running; Ctrl-C stops everything the demo started.")
            _watch(platform)
        return 0 if summary["consistent"] else 1
    except (DemoError, LocalKafkaError) as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        for child in platform.children:
            print(f"  {child.name} log: {child.log}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping ...")
        # Ctrl-C after the summary is how the demo is meant to end.
        return 0 if summary is not None and summary["consistent"] else 130
    finally:
        platform.stop()
        print("stopped everything the demo started")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _kafka(platform: Platform) -> str:
    if external := os.environ.get("HANDOFF_KAFKA_BOOTSTRAP"):
        print(f"Kafka: using {external} (HANDOFF_KAFKA_BOOTSTRAP)")
        return external
    broker = default_local_kafka()
    if broker.is_running():
        print(f"Kafka: reusing the local broker at {broker.bootstrap}")
        return broker.up()
    print(f"Kafka: starting Apache Kafka {KAFKA_VERSION} on {broker.bootstrap} ...", flush=True)
    address = broker.up(timeout=120)
    platform.broker = broker
    return address


def _environment(bootstrap: str) -> dict[str, str]:
    DEMO_HOME.mkdir(parents=True, exist_ok=True)
    db = DEMO_HOME / "handoff.db"
    for stale in (db, db.with_suffix(".db-wal"), db.with_suffix(".db-shm")):
        stale.unlink(missing_ok=True)
    env = dict(os.environ)
    env["HANDOFF_KAFKA_BOOTSTRAP"] = bootstrap
    env.setdefault("HANDOFF_DATABASE_URL", f"sqlite:///{db}")
    env.setdefault("HANDOFF_API_AUTH", "off")  # the demo calls the API without tokens
    # the demo posts tickets without signing them; nothing else accepts unsigned requests
    env.setdefault("HANDOFF_INGEST_UNSIGNED_SOURCES", '["support"]')
    for source in SIGNED_SOURCES:  # the CRM and the plants sign what they send
        env.setdefault(f"HANDOFF_INGEST_SECRET_{source.upper()}", secrets.token_urlsafe(24))
    return env


def _start_services(platform: Platform, env: dict[str, str]) -> dict[str, str]:
    from services.kafka_admin import ensure_handoff_topics
    from services.rules.rules_file import read_routing_rules as read_rules

    router = RouterSettings()
    ensure_handoff_topics(
        env["HANDOFF_KAFKA_BOOTSTRAP"],
        read_rules(router.router_rules_file).teams,
        router.topic_partitions,
    )
    ingest, api = IngestSettings(), ApiSettings()
    urls = {
        "ingest": f"http://{ingest.ingest_host}:{ingest.ingest_port}",
        "api": f"http://{api.api_host}:{api.api_port}",
        "router": f"http://{router.router_web_host}:{router.router_web_port}",
    }
    logs = DEMO_HOME / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for name in ("api", "router", "ingest"):
        platform.children.append(_spawn(name, env, logs / f"{name}.log"))
    for name, url in urls.items():
        _wait_healthy(name, url + "/healthz", platform)
    return urls


def _spawn(name: str, env: dict[str, str], log: Path) -> Child:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", name],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    print(f"{name}: started (pid {proc.pid}, log {log})")
    return Child(name, proc, log)


def _wait_healthy(name: str, url: str, platform: Platform, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in platform.children:
            if child.proc.poll() is not None:
                tail = child.log.read_text(errors="replace")[-2000:]
                raise DemoError(f"{child.name} exited with {child.proc.returncode}:\n{tail}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise DemoError(f"{name} was not healthy at {url} within {timeout:.0f}s")


def _secrets(env: dict[str, str]) -> dict[str, str]:
    return {source: env[f"HANDOFF_INGEST_SECRET_{source.upper()}"] for source in SIGNED_SOURCES}


def _traffic(
    urls: dict[str, str], count: int, resolve_share: float, keys: dict[str, str]
) -> dict[str, Any]:
    run = time.strftime("%Y%m%d%H%M%S")
    now = datetime.now(UTC)
    samples = sample_tickets(count, seed=int(run), prefix=f"DEMO-{run}")
    samples += overdue_tickets(now, prefix=f"DEMO-{run}")
    sales = sales_traffic(now, prefix=f"DEMO-{run}")  # the same journeys every run
    with httpx.Client(timeout=30) as client:
        accepted = _post_tickets(client, urls["ingest"], [s.body for s in samples])
        rejected = _post_invalid(client, urls["ingest"])
        stories.publish_capacity(client, urls, sales, keys)
        notes = stories.post_notes(client, urls["ingest"], sales, keys)
        _wait_for_requests(client, urls["api"], accepted + notes)
        stories.link_acme(client, urls["api"])
        resolved = _answer(client, urls["api"], resolve_share, samples)
        sales_side = stories.answer_sales_side(client, urls["api"])
        teams = _get(client, f"{urls['api']}/v1/teams")["teams"]
        latency = _get(client, f"{urls['api']}/v1/stats/feedback-latency")
        in_api = _requests_in_api(client, urls["api"])
        figures = stories.sales_figures(client, urls["api"])
    return {
        "tickets_posted": len(samples),
        "tickets_accepted": accepted,
        "invalid_rejected": rejected,
        "sales_notes_accepted": notes,
        "rush_orders": len(sales.rush_orders),
        "requests_in_api": in_api,
        "tasks_in_api": sum(t["open"] + t["resolved"] for t in teams),
        "resolved_by_demo": resolved,
        "sales_side": sales_side,
        "teams": teams,
        "feedback_latency": latency,
        **figures,
        "consistent": in_api == accepted + notes,
    }


def _post_tickets(client: httpx.Client, ingest: str, bodies: list[dict[str, Any]]) -> int:
    url = f"{ingest}/v1/sources/support/tickets"
    done = 0
    accepted = 0
    start = time.monotonic()

    def post(body: dict[str, Any]) -> bool:
        response = client.post(url, json=body)
        if response.status_code != 202:
            print(f"\n  ticket {body['ticket_id']}: {response.status_code} {response.text[:200]}")
        return response.status_code == 202

    with ThreadPoolExecutor(max_workers=8) as pool:
        for ok in pool.map(post, bodies):
            done += 1
            accepted += ok
            _progress("posting tickets", done, len(bodies), start)
    print()
    return accepted


def _post_invalid(client: httpx.Client, ingest: str) -> int:
    """A few malformed webhooks, to show they are refused with the reason."""
    bad = [
        {"subject": "no requester"},
        {"subject": "x", "requester_email": "not-an-address"},
        {"subject": "x", "requester_email": "a@acme.com", "priority": "critical"},
    ]
    rejected = 0
    for body in bad:
        response = client.post(f"{ingest}/v1/sources/support/tickets", json=body)
        if response.status_code == 422:
            rejected += 1
    first = client.post(f"{ingest}/v1/sources/support/tickets", json=bad[0]).json()
    print(
        f"invalid tickets refused with 422: {rejected} "
        f"(e.g. {json.dumps(first, ensure_ascii=False)[:160]})"
    )
    return rejected


def _wait_for_requests(
    client: httpx.Client, api: str, expected: int, timeout: float = 120.0
) -> None:
    """Until every accepted request (ticket or sales note) is in a task the API holds."""
    start = time.monotonic()
    while True:
        seen = _requests_in_api(client, api)
        _progress("routed into team queues", seen, expected, start)
        if seen >= expected:
            print()
            return
        if time.monotonic() - start > timeout:
            print()
            raise DemoError(f"only {seen} of {expected} requests reached the API in {timeout:.0f}s")
        time.sleep(0.5)


def _requests_in_api(client: httpx.Client, api: str) -> int:
    """Requests (askers) grouped into the API's tasks, from its figures."""
    groups = _get(client, f"{api}/v1/stats/figures")["groups"]
    return sum(int(g["requests"]) for g in groups)


def _answer(client: httpx.Client, api: str, share: float, samples: list[Any]) -> int:
    """The owning teams answer a share of their queue (sales' side answers its own)."""
    rng = random.Random(len(samples))
    language = {s.body["subject"]: s.language for s in samples}
    chosen = []
    teams = _get(client, f"{api}/v1/teams")["teams"]
    for team in (t for t in teams if t["team"] not in stories.SALES_SIDE):
        tasks = _get(client, f"{api}/v1/teams/{team['team']}/tasks?state=open&limit=500")["tasks"]
        chosen += [
            t for t in tasks if rng.random() < share and t["subject"] not in OVERDUE_SUBJECTS
        ]
    start = time.monotonic()
    for n, task in enumerate(chosen, 1):
        message = ANSWERS[language.get(task["subject"], "en")]
        response = client.post(
            f"{api}/v1/tasks/{task['task_id']}/resolve", json={"message": message}
        )
        if response.status_code != 200:
            raise DemoError(f"resolving {task['task_id']}: {response.status_code} {response.text}")
        _progress("teams answering", n, len(chosen), start)
    print()
    return len(chosen)


def _get(client: httpx.Client, url: str) -> Any:
    response = client.get(url)
    if response.status_code != 200:
        raise DemoError(f"GET {url}: {response.status_code} {response.text[:300]}")
    return response.json()


def _progress(what: str, done: int, total: int, start: float) -> None:
    elapsed = max(time.monotonic() - start, 1e-6)
    rate = done / elapsed
    eta = (total - done) / rate if rate else 0.0
    print(f"\r{what}: {done}/{total}  {rate:6.0f}/s  eta {eta:4.0f}s", end="", flush=True)


def _print_summary(summary: dict[str, Any], urls: dict[str, str], platform: Platform) -> None:
    fmt: Callable[[float | None], str] = stories.seconds
    overall = summary["feedback_latency"]["overall"]
    per_team = summary["feedback_latency"]["teams"]
    print("\n== handoff demo summary ==")
    print(
        f"tickets in: {summary['tickets_accepted']} accepted "
        f"of {summary['tickets_posted']} posted, "
        f"{summary['invalid_rejected']} invalid refused (422); sales notes in: "
        f"{summary['sales_notes_accepted']}; {summary['requests_in_api']} requests "
        f"grouped into {summary['tasks_in_api']} tasks"
    )
    print(f"{'team':<20}{'tasks open':>11}{'resolved':>9}{'p50':>9}{'p90':>9}{'p99':>9}")
    for team in summary["teams"]:
        lat = per_team.get(team["team"], {})
        print(
            f"{team['team']:<20}{team['open']:>11}{team['resolved']:>9}"
            f"{fmt(lat.get('p50_s')):>9}{fmt(lat.get('p90_s')):>9}{fmt(lat.get('p99_s')):>9}"
        )
    print(
        f"feedback latency (request raised -> answer sent back), {overall['count']} answered "
        f"by people: p50 {fmt(overall['p50_s'])}, p90 {fmt(overall['p90_s'])}, "
        f"p99 {fmt(overall['p99_s'])}"
    )
    stories.print_sales_summary(summary)
    if not summary["consistent"]:
        print(
            f"WARNING: the API holds {summary['requests_in_api']} requests for "
            f"{summary['tickets_accepted'] + summary['sales_notes_accepted']} accepted"
        )
    print("\nURLs:")
    print(f"  ingest   {urls['ingest']}/docs   (POST /v1/sources/support/tickets, ...)")
    print(f"  api      {urls['api']}/docs   (GET /v1/teams/<team>/tasks)")
    print(f"  latency  {urls['api']}/v1/stats/feedback-latency")
    print(f"  metrics  {urls['ingest']}/metrics  {urls['api']}/metrics  {urls['router']}/metrics")
    print(f"  logs     {DEMO_HOME / 'logs'}/")


def _print_dashboard(api: str, database_url: str, teams: list[dict[str, Any]]) -> None:
    """Where the dashboard is, and a team's token to see that team's view (shown once)."""
    from services.api.auth import create_token
    from services.api.db import make_engine

    busiest = max(teams, key=lambda t: t["open"], default={"team": "billing-ui"})["team"]
    engine = make_engine(database_url)
    try:
        made = create_token(
            engine, team=busiest, scope="write", name="demo dashboard", now=datetime.now(UTC)
        )
    finally:
        engine.dispose()
    print(f"\nDashboard: {api}/dashboard   (opens as admin: the demo's API runs without auth)")
    print(f"  {busiest}'s view: sign in at {api}/dashboard/sign-in with {made.token}")


def _watch(platform: Platform) -> None:
    while True:
        for child in platform.children:
            if child.proc.poll() is not None:
                raise DemoError(f"{child.name} exited with {child.proc.returncode}")
        time.sleep(1)
