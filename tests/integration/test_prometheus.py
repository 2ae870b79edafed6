"""A real Prometheus (Debian's package) scrapes the running services and evaluates our rules.

Ingest, the router and the API run as processes on free ports of 127.0.0.1
(tests/processes.py); Prometheus scrapes them every second with the rules of
deploy/prometheus/rules loaded, and the test reads figures back through
Prometheus's HTTP API: the routed count, latency histograms, consumer lag.

The consumer-lag collector (services/kafka_lag.py) is not wired into the
services yet, so it runs here in the test's own exporter (prometheus_client's
HTTP server) for the router's group and for an idle group that stands still at
the topic's end: its lag is exactly the number of tickets posted.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from schemas import topics
from services.api.db import make_engine
from services.api.lifecycle import ACTIVE
from services.api.metrics import RollupCollector
from services.kafka_lag import ConsumerLagCollector, KafkaLagReader
from services.local.kafka import free_port
from services.local.processes import terminate
from tests.databases import fresh_postgres_database
from tests.processes import (
    REPO_ROOT,
    Platform,
    platform_env,
    running_platform,
    start_group_at_end,
    wait_for,
)

RULES_DIR = REPO_ROOT / "deploy" / "prometheus" / "rules"
# distinct components: three tasks for three teams (tickets are grouped per component)
TICKETS = {"billing-ui": "billing", "login": "identity", "mobile-app": "mobile"}
RAISED_AGO = timedelta(seconds=100)  # so the answer lands in the (60, 300] s bucket


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:  # integration parts never skip
        pytest.fail("prometheus is missing: run deploy/scripts/ensure-system.sh --with-postgres")
    return found


def scrape_config(targets: dict[str, str]) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES_DIR / "*.yml")],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in targets.items()
        ],
    }


@contextmanager
def running_prometheus(home: Path, targets: dict[str, str]) -> Iterator[str]:
    """Prometheus on a free port of 127.0.0.1 scraping ``targets``; yields its URL."""
    config = home / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(targets)), encoding="utf-8")
    address = f"127.0.0.1:{free_port()}"
    log = home / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={config}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address={address}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://{address}"
    try:
        wait_for(f"Prometheus ready ({log})", lambda: ready(url, proc, log), timeout=60)
        yield url
    finally:
        terminate(proc)


def ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"prometheus exited:\n{log.read_text(errors='replace')[-3000:]}")
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def lag_exporter(bootstrap: str, groups: list[str]) -> Iterator[str]:
    """The lag collector for ``groups`` on its own /metrics; yields host:port."""
    registry = CollectorRegistry()
    reader = KafkaLagReader(bootstrap)
    registry.register(ConsumerLagCollector("router", groups, reader, max_age_s=1.0))
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        reader.close()


def query(prometheus: str, expr: str) -> dict[str, float]:
    """An instant query: {series labels (but the name) as text: value}."""
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    return {
        ",".join(f"{k}={v}" for k, v in sorted(s["metric"].items()) if k != "__name__"): float(
            s["value"][1]
        )
        for s in body["data"]["result"]
    }


def settles_at(prometheus: str, expr: str, expected: dict[str, float], timeout: float) -> None:
    """Wait until ``expr`` returns exactly ``expected``; fail with what it returned last."""
    seen: list[dict[str, float]] = []

    def probe() -> bool:
        seen.append(query(prometheus, expr))
        return seen[-1] == expected

    try:
        wait_for(f"{expr} == {expected}", probe, timeout=timeout, interval=1.0)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last: {seen[-1:]}") from None


@pytest.fixture(scope="module")
def platform(
    kafka_bootstrap: str, postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("prometheus-platform")
    database = fresh_postgres_database(postgres_server_url)
    env = platform_env(kafka_bootstrap, next(database), home)
    try:
        with running_platform(env, home) as running:
            yield running
    finally:
        database.close()


def post_tickets(platform: Platform) -> dict[str, str]:
    """One ticket per component; each one's event id by its team."""
    raised = (datetime.now(UTC) - RAISED_AGO).isoformat()
    ids = {}
    for component, team in TICKETS.items():
        response = httpx.post(
            f"{platform.ingest.url}/v1/sources/support/tickets",
            json={
                "ticket_id": f"PM-{uuid.uuid4().hex[:8]}",
                "subject": f"{component} is broken",
                "requester_email": "ops@example.com",
                "priority": "high",
                "component": component,
                "created_at": raised,
            },
            timeout=30,
        )
        assert response.status_code == 202, response.text
        ids[team] = response.json()["id"]
    return ids


def resolve_billing_task(platform: Platform, event_id: str) -> None:
    """Resolve the task of this test's billing ticket (the API may hold older ones: its
    projector reads handoff.routed from the start)."""

    def billing_task() -> str | None:
        url = f"{platform.api.url}/v1/tasks?team=billing&state=all&limit=500"
        tasks = httpx.get(url, timeout=10).json()["tasks"]
        ours = [t["task_id"] for t in tasks if t["source_event_id"] == event_id]
        return str(ours[0]) if ours else None

    task_id = wait_for("billing's task in the API", billing_task, timeout=90)
    resolved = httpx.post(
        f"{platform.api.url}/v1/tasks/{task_id}/resolve", json={"message": "fixed"}, timeout=30
    )
    assert resolved.status_code == 200, resolved.text


def test_prometheus_sees_routing_latency_and_lag(
    platform: Platform, kafka_bootstrap: str, tmp_path: Path
) -> None:
    idle = f"handoff-idle-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_bootstrap, idle, topics.INGEST_SUPPORT)
    groups = {
        "router": platform.env["HANDOFF_ROUTER_APP_ID"],
        "api": platform.env["HANDOFF_API_CONSUMER_GROUP"],
    }
    with lag_exporter(kafka_bootstrap, [idle]) as exporter:
        targets = {
            "ingest": platform.ingest.url.removeprefix("http://"),
            "router": platform.router.url.removeprefix("http://"),
            "api": platform.api.url.removeprefix("http://"),
            "router-lag": exporter,
        }
        with running_prometheus(tmp_path, targets) as prometheus:
            settles_at(prometheus, 'sum by (job) (up{job!=""})', {
                f"job={job}": 1.0 for job in targets
            }, timeout=60)  # fmt: skip
            event_ids = post_tickets(platform)
            check_routed(prometheus)
            resolve_billing_task(platform, event_ids["billing"])
            check_latency(prometheus)
            check_lag(prometheus, groups, idle)
            check_rules_loaded(prometheus)
    check_rollups(platform)


def check_routed(prometheus: str) -> None:
    expected = {f"team={team}": 1.0 for team in TICKETS.values()}
    settles_at(prometheus, "sum by (team) (handoff_router_routed_total) > 0", expected, 120)
    settles_at(
        prometheus,
        'sum(handoff_ingest_events_total{source="support", outcome="accepted"})',
        {"": float(len(TICKETS))},
        30,
    )


def check_latency(prometheus: str) -> None:
    routed = "sum(handoff_router_route_latency_seconds_count)"
    settles_at(prometheus, routed, {"": float(len(TICKETS))}, 30)
    # the answer came ~100 s after the ticket's own creation time: in (60, 300]
    buckets = (
        'sum by (le) (handoff_api_feedback_latency_seconds_bucket{team="billing", '
        'le=~"60.0|300.0|\\\\+Inf"})'
    )
    expected = {"le=60.0": 0.0, "le=300.0": 1.0, "le=+Inf": 1.0}
    settles_at(prometheus, buckets, expected, 30)


def check_lag(prometheus: str, groups: dict[str, str], idle: str) -> None:
    """Each service serves its own consumer group's lag; an idle group (served by the
    test's exporter, job router-lag) stands still at the end it started from."""
    support, routed = topics.INGEST_SUPPORT, topics.ROUTED
    by = "sum by (job, group, topic)"
    settles_at(prometheus, f'{by} (handoff_router_consumer_lag_messages{{topic="{support}"}})', {
        f"group={groups['router']},job=router,topic={support}": 0.0,  # routed and committed
        f"group={idle},job=router-lag,topic={support}": float(len(TICKETS)),
    }, 60)  # fmt: skip
    settles_at(prometheus, f'{by} (handoff_api_consumer_lag_messages{{topic="{routed}"}})', {
        f"group={groups['api']},job=api,topic={routed}": 0.0,  # projected and committed
    }, 60)  # fmt: skip
    recorded = f'group_topic:handoff_consumer_lag_messages:max{{group="{idle}"}}'
    settles_at(prometheus, recorded, {f"group={idle},topic={support}": float(len(TICKETS))}, 30)


def check_rules_loaded(prometheus: str) -> None:
    response = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()
    rules = [rule for group in response["data"]["groups"] for rule in group["rules"]]
    alerts = {rule["name"] for rule in rules if rule["type"] == "alerting"}
    assert "HandoffRouterWorkerDown" in alerts
    assert len(alerts) == 10
    assert all(rule["health"] in ("ok", "unknown") for rule in rules), rules


def check_rollups(platform: Platform) -> None:
    """The open-tasks rollup on PostgreSQL equals the API's own count of active tasks per
    team (the database also holds other tests' tasks: its projector reads from the start)."""
    engine = make_engine(platform.env["HANDOFF_DATABASE_URL"])
    registry = CollectorRegistry()
    registry.register(RollupCollector(engine, max_age_s=0.0, wait_s=10.0))

    def active_by_team() -> dict[str, float]:
        teams = httpx.get(f"{platform.api.url}/v1/teams", timeout=10).json()["teams"]
        counts = {t["team"]: float(sum(t["states"].get(s, 0) for s in ACTIVE)) for t in teams}
        return {team: n for team, n in counts.items() if n}

    def gauge_equals_the_api() -> dict[str, float] | None:
        found: dict[str, float] = {}
        for family in registry.collect():
            for sample in family.samples:
                if sample.name == "handoff_api_open_tasks":
                    team = sample.labels["team"]
                    found[team] = found.get(team, 0.0) + sample.value
        expected = active_by_team()
        return found if found == expected and found.get("identity", 0) >= 1 else None

    try:
        wait_for("open tasks by team as the API counts them", gauge_equals_the_api, timeout=60)
    finally:
        engine.dispose()
