"""A breached SLA reaches the team where it works: its webhook, signed and retried.

Every part is real: ingest, router and API as processes, Kafka 4.4.0 and
PostgreSQL; the team's chat or on-call tool is a local HTTP receiver that
refuses the first attempt (so the retry is exercised) and checks the signature
as a receiver would (HMAC-SHA256 of ``<timestamp>.<body>``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from schemas.events import derived_id
from services.api.webhooks import verify
from tests.databases import fresh_postgres_database
from tests.integration.router_process import write_rules
from tests.processes import Platform, platform_env, running_platform, wait_for
from tests.receivers import Origin

SECRET = "alert-secret-alert-secret"
# A 6-second acknowledge budget so the breach comes while the test waits; the
# escalation team has a webhook of its own.
RULES = """
teams:
  alerts-fast: {department: support, escalate_to: alerts-lead}
  alerts-lead: {department: support}
sla_policies:
  blink: {acknowledge: 6s, resolve: 10m, warn_at: 0.5}
route:
  team: alerts-fast
  sla: blink
  group_by: [id]
"""


@pytest.fixture(scope="module")
def platform(
    kafka_bootstrap: str, postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("alerts")
    rules = write_rules(home, RULES)
    database = fresh_postgres_database(postgres_server_url)
    env = platform_env(kafka_bootstrap, next(database), home)
    env.update(
        HANDOFF_ROUTER_RULES_FILE=str(rules),
        HANDOFF_API_RULES_FILE=str(rules),
        HANDOFF_ROUTER_RULES_KEY=f"alerts-{uuid.uuid4().hex[:8]}",
        HANDOFF_API_DELIVERY_BACKOFF_INITIAL_S="0.2",
        HANDOFF_API_DELIVERY_POLL_S="0.1",
    )
    try:
        with running_platform(env, home) as running:
            yield running
    finally:
        database.close()


def register(platform: Platform, team: str, url: str) -> None:
    response = httpx.put(
        f"{platform.api.url}/v1/teams/{team}/webhook",
        json={"url": url, "secret": SECRET},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def alerts(receiver: Origin, task_id: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """Delivered (2xx) calls about ``task_id``, each with its headers and JSON body."""
    found = []
    for _, headers, body, _ in receiver.delivered():
        payload = json.loads(body)
        if payload["task_id"] == task_id:
            assert verify(SECRET, int(headers["X-Handoff-Timestamp"]), body,
                          headers["X-Handoff-Signature"])  # fmt: skip
            found.append((headers, payload))
    return found


def test_a_breach_reaches_the_team_and_its_escalation_team_signed_and_retried(
    platform: Platform,
) -> None:
    team_hook, lead_hook = Origin(503, 200), Origin(200)
    try:
        register(platform, "alerts-fast", team_hook.url)
        register(platform, "alerts-lead", lead_hook.url)
        raised = datetime.now(UTC)
        response = httpx.post(
            f"{platform.ingest.url}/v1/sources/support/tickets",
            json={
                "ticket_id": f"ZD-{uuid.uuid4().hex[:8]}",
                "subject": "請求書の画面が開かない",
                "description": "誰も応答しません",
                "requester_email": "hanako@example.co.jp",
                "priority": "urgent",
                "created_at": raised.isoformat(),
            },
            timeout=30,
        )
        assert response.status_code == 202, response.text
        task_id = derived_id("task", response.json()["id"])

        def warned_and_breached() -> bool:
            types = {p["event"] for _, p in alerts(team_hook, task_id)}
            return {"sla.at_risk", "sla.breached"} <= types and bool(alerts(lead_hook, task_id))

        # both may come due at once on a slow machine; the one refused first is retried
        wait_for("the warning and the breach at the webhooks", warned_and_breached, timeout=90)
        told = {p["event"]: (h, p) for h, p in alerts(team_hook, task_id)}
        headers, breach = told["sla.breached"]
        assert (breach["team"], breach["role"], breach["clock"]) == (
            "alerts-fast", "owner", "acknowledge",
        )  # fmt: skip
        assert breach["escalate_to"] == "alerts-lead"
        assert breach["subject"] == "請求書の画面が開かない"
        assert headers["Idempotency-Key"] == breach["delivery_id"]
        assert told["sla.at_risk"][1]["clock"] == "acknowledge"  # the warning, at half the budget
        first_try = [c for c in team_hook.calls if c[3] == 503]
        assert len(first_try) == 1  # refused once, then retried and delivered
        [(_, escalation)] = alerts(lead_hook, task_id)
        assert (escalation["team"], escalation["role"]) == ("alerts-lead", "escalation")
        log = httpx.get(f"{platform.api.url}/v1/tasks/{task_id}", timeout=30).json()
        states = sorted(d["state"] for d in log["deliveries"])
        assert states.count("delivered") >= 3, log["deliveries"]
    finally:
        team_hook.close()
        lead_hook.close()
