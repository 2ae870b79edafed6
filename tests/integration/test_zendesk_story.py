"""Issue 16, acceptance 1 (story 1 with Zendesk as it really sends and takes answers).

Five Zendesk tickets about the invoice screen, from three organisations, in Japanese, with
mixed priorities, arrive as Zendesk event webhooks (``zen:event-type:ticket.created``,
written from https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/
and signed as https://developer.zendesk.com/documentation/webhooks/verifying/ describes);
the component comes from the ticket's tags through the source's label map (Zendesk's
ticket-event ``detail`` carries ``tags``; a ``custom_fields`` list, when a payload has one,
maps the same way). They become one billing task; its resolution reaches each of the five
tickets as Zendesk's ``PUT /api/v2/tickets/{id}.json`` with basic API-token auth, checked by
a local Zendesk (``tests/zendesk_receiver.py``) against
https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket.
Everything is real: ingest, router and api as processes, Kafka and PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.ingest.signatures import sign_zendesk
from tests.databases import fresh_postgres_database
from tests.processes import Platform, platform_env, running_platform, wait_for
from tests.zendesk_receiver import ZendeskTickets

SECRET = "zendesk-webhook-signing-secret"
EMAIL = "agent@acme.example"
TOKEN = "zd-api-token-acceptance-0123456789"
LABELS = {"zendesk": {"labels": {"component": {"tag_prefix": "component_"}}}}
# (organization_id, priority, subject): three organisations, mixed priorities
TICKETS = [
    ("360001001", "HIGH", "請求書画面の合計金額が分かりにくい"),
    ("360001001", "NORMAL", "請求書の税額表示がどこにあるか分からない"),
    ("360002002", "HIGH", "請求書画面で支払期日が見つからない"),
    ("360002002", "LOW", "請求書PDFの項目名が分かりにくい"),
    ("360003003", "NORMAL", "請求書画面の使い方を教えてください"),
]


@pytest.fixture(scope="module")
def zendesk() -> Iterator[ZendeskTickets]:
    tickets = ZendeskTickets(EMAIL, TOKEN)
    yield tickets
    tickets.close()


@pytest.fixture(scope="module")
def platform(
    kafka_bootstrap: str, postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("zendesk-story")
    database = fresh_postgres_database(postgres_server_url)
    env = platform_env(kafka_bootstrap, next(database), home)
    env["HANDOFF_INGEST_SECRET_ZENDESK"] = SECRET
    env["HANDOFF_INGEST_SOURCES"] = json.dumps(LABELS)
    env["HANDOFF_CALLBACK_ZENDESK_TOKEN"] = TOKEN  # the API reads it when it sends
    try:
        with running_platform(env, home) as running:
            yield running
    finally:
        database.close()


def ticket_created(ticket_id: str, org: str, priority: str, subject: str) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    stamp = now.isoformat().replace("+00:00", "Z")
    return {
        "account_id": 22129848,
        "detail": {
            "actor_id": "8447388090494", "assignee_id": None, "brand_id": "8447346621310",
            "created_at": stamp, "description": f"{subject}。画面のどこを見ればよいですか?",
            "external_id": None, "form_id": "8646151517822", "group_id": "8447320466430",
            "id": ticket_id, "is_public": True, "organization_id": org, "priority": priority,
            "requester_id": f"9{ticket_id}", "status": "NEW", "subject": subject,
            "submitter_id": f"9{ticket_id}", "tags": ["請求", "component_billing-ui"],
            "type": "QUESTION", "updated_at": stamp, "via": {"channel": "web_form"},
        },
        "event": {"meta": {"sequence": {"id": uuid.uuid4().hex, "position": 1, "total": 1}}},
        "id": str(uuid.uuid4()),
        "subject": f"zen:ticket:{ticket_id}",
        "time": stamp,
        "type": "zen:event-type:ticket.created",
        "zendesk_event_version": "2022-11-06",
    }  # fmt: skip


def post_event(platform: Platform, event: dict[str, Any]) -> httpx.Response:
    body = json.dumps(event, ensure_ascii=False).encode()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Zendesk Webhook",
        "X-Zendesk-Webhook-Id": "01GK8E6BKWMJZD2T8Y5AXJQMG5",
        "X-Zendesk-Webhook-Signature": sign_zendesk(SECRET.encode(), stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }
    url = f"{platform.ingest.url}/v1/sources/zendesk/webhooks"
    return httpx.post(url, content=body, headers=headers, timeout=30)


def tasks_with(platform: Platform, refs: set[str]) -> list[dict[str, Any]]:
    """The billing tasks holding any of ``refs``, with their detail."""
    listed = httpx.get(f"{platform.api.url}/v1/teams/billing/tasks?state=all&limit=500")
    assert listed.status_code == 200, listed.text
    found = []
    for task in listed.json()["tasks"]:
        detail = httpx.get(f"{platform.api.url}/v1/tasks/{task['task_id']}", timeout=30).json()
        if {e["ref"] for e in detail["source_events"]} & refs:
            found.append(detail)
    return found


def all_grouped(platform: Platform, refs: set[str]) -> list[dict[str, Any]] | None:
    tasks = tasks_with(platform, refs)
    held = {e["ref"] for t in tasks for e in t["source_events"]}
    return tasks if held >= refs else None


def test_five_zendesk_tickets_are_one_billing_task_answered_on_each_ticket(
    platform: Platform, zendesk: ZendeskTickets
) -> None:
    run = uuid.uuid4().int % 10**6
    refs = {str(run * 10 + n) for n in range(len(TICKETS))}
    for ref, (org, priority, subject) in zip(sorted(refs), TICKETS, strict=True):
        response = post_event(platform, ticket_created(ref, org, priority, subject))
        assert response.status_code == 202, response.text

    tasks = wait_for("all five tickets on billing tasks", lambda: all_grouped(platform, refs))
    assert len(tasks) == 1, [(t["task_id"], t["priority"]) for t in tasks]  # one per problem
    [task] = tasks
    assert task["component"] == "billing-ui"
    assert len({e["ref"] for e in task["source_events"]}) == 5

    registered = httpx.put(
        f"{platform.api.url}/v1/admin/callbacks",
        json={
            "source": "/sources/zendesk",
            "format": "zendesk",
            "url": zendesk.url + "/api/v2/tickets/{ref}.json",
            "auth": {
                "scheme": "basic",
                "username": f"{EMAIL}/token",
                "secret_env": "HANDOFF_CALLBACK_ZENDESK_TOKEN",
            },
        },
        timeout=30,
    )
    assert registered.status_code == 200, registered.text
    answer = "請求書画面の表示を改善しました。ご不便をおかけしました。"
    resolved = httpx.post(
        f"{platform.api.url}/v1/tasks/{task['task_id']}/resolve", json={"message": answer}
    )
    assert resolved.status_code == 200, resolved.text

    wait_for("a PUT on each ticket", lambda: len(zendesk.updates) >= 5, timeout=90)
    assert zendesk.refused == []
    assert sorted(str(u.ticket_id) for u in zendesk.updates) == sorted(refs)
    for update in zendesk.updates:
        assert update.ticket == {"comment": {"body": answer, "public": True}, "status": "solved"}
