"""A ticket goes from the webhook to its team's queue, and its answer comes back.

Every part is real: the services run as processes, talk HTTP, Kafka 4.4.0 and
PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from schemas import topics
from schemas.events import CloudEvent, derived_id
from services.ingest.signatures import sign_zendesk
from services.rules.rules_file import read_routing_rules
from tests.databases import fresh_postgres_database
from tests.processes import (
    REPO_ROOT,
    Platform,
    platform_env,
    read_topic,
    running_platform,
    wait_for,
)
from tests.receivers import Origin

ROUTING = read_routing_rules(REPO_ROOT / "deploy" / "config" / "routing.yaml")
ZENDESK_SECRET = "e2e-zendesk-secret"
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "ingest"


@pytest.fixture(scope="module")
def platform(
    kafka_bootstrap: str, postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("e2e")
    database = fresh_postgres_database(postgres_server_url)
    url = next(database)
    env = platform_env(kafka_bootstrap, url, home)
    env["HANDOFF_INGEST_SECRET_ZENDESK"] = ZENDESK_SECRET
    try:
        with running_platform(env, home) as running:
            yield running
    finally:
        database.close()


def post_ticket(platform: Platform, **fields: object) -> httpx.Response:
    return httpx.post(f"{platform.ingest.url}/v1/sources/support/tickets", json=fields, timeout=30)


def team_tasks(platform: Platform, team: str) -> list[dict[str, object]]:
    response = httpx.get(f"{platform.api.url}/v1/teams/{team}/tasks?state=all&limit=500")
    assert response.status_code == 200, response.text
    tasks: list[dict[str, object]] = response.json()["tasks"]
    return tasks


def test_ticket_is_routed_resolved_and_its_latency_measured(platform: Platform) -> None:
    ticket_id = f"ZD-{uuid.uuid4().hex[:8]}"
    created = datetime.now(UTC) - timedelta(seconds=30)
    subject = "請求書の画面が分かりにくい"
    response = post_ticket(
        platform,
        ticket_id=ticket_id,
        subject=subject,
        description="<p>支払い方法の変更ボタンが見つかりません</p>",
        requester_email="taro@example.co.jp",
        priority="urgent",
        component="billing-ui",
        created_at=created.isoformat(),
    )
    assert response.status_code == 202, response.text
    event_id = response.json()["id"]
    task_id = derived_id("task", event_id)

    def routed() -> dict[str, object] | None:
        return next((t for t in team_tasks(platform, "billing") if t["task_id"] == task_id), None)

    task = wait_for("the ticket in billing's queue", routed)
    assert task["subject"] == subject
    assert task["state"] == "open"
    assert task["account"] == "example.co.jp"
    due = datetime.fromisoformat(str(task["sla_due"]))
    labels = {"type": "support.ticket", "component": "billing-ui", "priority": "urgent"}
    (decision,) = ROUTING.decide({**labels, "account": "example.co.jp"}, created)
    assert decision.clocks is not None
    assert decision.clocks.acknowledge is not None
    assert due == decision.clocks.acknowledge.due  # an hour of Tokyo business time

    answer = "修正をリリースしました"
    resolved = httpx.post(
        f"{platform.api.url}/v1/tasks/{task_id}/resolve", json={"message": answer}, timeout=30
    )
    assert resolved.status_code == 200, resolved.text
    answered_at = datetime.now(UTC)

    def feedback_for_task(records: list[object]) -> bool:
        return any(json.loads(r.value)["data"]["task_id"] == task_id for r in records)  # type: ignore[attr-defined]

    records = read_topic(
        platform.env["HANDOFF_KAFKA_BOOTSTRAP"], topics.FEEDBACK, feedback_for_task
    )
    event = next(
        CloudEvent.from_bytes(r.value)
        for r in records
        if json.loads(r.value)["data"]["task_id"] == task_id
    )
    assert event.type == "task.feedback"
    assert event.data["message"] == answer
    assert event.data["source_event_id"] == event_id
    assert records[0].key is not None

    stats = httpx.get(f"{platform.api.url}/v1/stats/feedback-latency").json()
    billing = stats["teams"]["billing"]
    assert billing["count"] == 1
    # Latency runs from the ticket's own creation time to the answer: at least
    # the 30 s the ticket waited before it was posted, at most until we checked.
    assert 30 <= billing["p50_s"] <= (answered_at - created).total_seconds() + 1

    again = httpx.post(
        f"{platform.api.url}/v1/tasks/{task_id}/resolve", json={"message": "again"}, timeout=30
    )
    assert again.status_code == 409
    assert "resolved" in again.text


def test_the_same_ticket_posted_twice_is_one_task(platform: Platform) -> None:
    ticket_id = f"ZD-{uuid.uuid4().hex[:8]}"
    body = {
        "ticket_id": ticket_id,
        "subject": "ログインできません",
        "requester_email": "hanako@sakura-shoji.jp",
        "priority": "high",
        "component": "login",
    }
    first, second = post_ticket(platform, **body), post_ticket(platform, **body)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    task_id = derived_id("task", first.json()["id"])

    # A third ticket from the same requester (same account, so same partition and
    # order) to the same team proves the queue moved past both copies before we
    # count. Another component, so it is a task of its own rather than joining ours.
    marker = post_ticket(platform, **{**body, "ticket_id": ticket_id + "-next", "component": "sso"})
    marker_task = derived_id("task", marker.json()["id"])
    wait_for(
        "the marker ticket in identity's queue",
        lambda: any(t["task_id"] == marker_task for t in team_tasks(platform, "identity")),
    )
    ours = [t for t in team_tasks(platform, "identity") if t["task_id"] == task_id]
    assert len(ours) == 1
    assert ours[0]["event_count"] == 1  # the second copy did not count as a second request


def test_invalid_ticket_is_refused_with_the_field_named(platform: Platform) -> None:
    response = post_ticket(platform, subject="x", requester_email="nobody", priority="urgent")
    assert response.status_code == 422
    assert "requester_email" in response.text


def test_a_reassigned_task_is_re_routed_with_its_sla_restarted(platform: Platform) -> None:
    ticket_id = f"ZD-{uuid.uuid4().hex[:8]}"
    response = post_ticket(
        platform,
        ticket_id=ticket_id,
        subject="ログインできません",
        description="SSO の後で請求画面に戻されます",
        requester_email="hanako@example.co.jp",
        priority="urgent",
        component="billing-ui",
    )
    assert response.status_code == 202, response.text
    task_id = derived_id("task", response.json()["id"])

    def in_queue(team: str) -> dict[str, object] | None:
        return next((t for t in team_tasks(platform, team) if t["task_id"] == task_id), None)

    wait_for("the ticket in billing's queue", lambda: in_queue("billing"))
    handed = httpx.post(
        f"{platform.api.url}/v1/tasks/{task_id}/reassign",
        json={"team": "identity", "message": "SSO の問題です"},
        timeout=30,
    )
    assert handed.status_code == 200, handed.text
    assert handed.json()["state"] == "reassigned"

    bootstrap = platform.env["HANDOFF_KAFKA_BOOTSTRAP"]

    def reassigned_to_identity(records: list[object]) -> bool:
        return any(CloudEvent.from_bytes(r.value).subject == task_id for r in records)  # type: ignore[attr-defined]

    records = read_topic(bootstrap, topics.team_topic("identity"), reassigned_to_identity)
    (event,) = [CloudEvent.from_bytes(r.value) for r in records if r.key is not None
                and CloudEvent.from_bytes(r.value).subject == task_id]  # fmt: skip
    assert event.data["reassigned_from"] == "billing"
    assert event.data["reason"] == "reassigned by billing: SSO の問題です"
    policy = ROUTING.policies[str(event.data["sla_policy"])]
    fresh = policy.clocks(event.time)  # the clocks restart from the handover
    assert fresh.acknowledge is not None
    assert datetime.fromisoformat(str(event.data["acknowledge_by"])) == fresh.acknowledge.due

    def with_new_deadline() -> dict[str, object] | None:
        # (it may equal the old one: both clocks can start at the same opening hour)
        task = in_queue("identity")
        due = datetime.fromisoformat(str(task["sla_due"])) if task else None
        return task if due == fresh.acknowledge.due else None

    wait_for("the new deadline in identity's queue", with_new_deadline)
    assert in_queue("billing") is None


def test_every_ticket_grouped_into_a_task_gets_the_answer_back(platform: Platform) -> None:
    origin = Origin(200)
    try:
        tickets = [f"{n}{uuid.uuid4().int % 10**8}" for n in (1, 2)]
        ids = []
        for ticket_id, who in zip(
            tickets, ("taro@example.co.jp", "jiro@globex.example"), strict=True
        ):
            response = post_ticket(
                platform,
                ticket_id=ticket_id,
                subject="支払い画面でエラー",
                description="カードを登録できません",
                requester_email=who,
                priority="high",
                component="payments",
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        task_id = derived_id("task", ids[0])

        def both_grouped() -> dict[str, object] | None:
            response = httpx.get(f"{platform.api.url}/v1/tasks/{task_id}", timeout=30)
            if response.status_code != 200:
                return None
            body: dict[str, object] = response.json()
            refs = {e["ref"] for e in body["source_events"]}  # type: ignore[attr-defined]
            return body if refs == set(tickets) else None

        task = wait_for("both tickets in one task", both_grouped)
        registered = httpx.put(
            f"{platform.api.url}/v1/admin/callbacks",
            json={
                "source": task["source"],
                "url": origin.url.replace("/hook", "/tickets/{ticket_id}"),
                "secret": "e2e-secret-e2e-secret",
                "format": "zendesk",
                "method": "POST",  # this receiver takes POST (Zendesk's own PUT: test_zendesk_*)
            },
            timeout=30,
        )
        assert registered.status_code == 200, registered.text
        resolved = httpx.post(
            f"{platform.api.url}/v1/tasks/{task_id}/resolve",
            json={"message": "修正をリリースしました"},
            timeout=30,
        )
        assert resolved.status_code == 200, resolved.text

        wait_for("an answer for each ticket", lambda: len(origin.delivered()) == 2)
        assert sorted(origin.paths) == sorted(f"/tickets/{t}" for t in tickets)
        for _, _, body, _ in origin.delivered():
            ticket = json.loads(body)["ticket"]
            assert ticket["status"] == "solved"
            assert ticket["comment"] == {"body": "修正をリリースしました", "public": True}
            assert set(ticket) == {"status", "comment"}  # issue 16.8: no field handoff doesn't own
    finally:
        origin.close()


def test_a_reopened_task_goes_back_to_its_team_and_can_be_reassigned(platform: Platform) -> None:
    response = post_ticket(
        platform,
        ticket_id=f"ZD-{uuid.uuid4().hex[:8]}",
        subject="請求書がまた届きません",
        requester_email="saburo@example.co.jp",
        priority="urgent",
        component="invoices",
    )
    assert response.status_code == 202, response.text
    task_id = derived_id("task", response.json()["id"])
    api, bootstrap = platform.api.url, platform.env["HANDOFF_KAFKA_BOOTSTRAP"]
    wait_for(
        "the ticket in billing's queue", lambda: httpx.get(f"{api}/v1/tasks/{task_id}").is_success
    )
    for action, body in (
        ("resolve", {"message": "再送しました"}),
        ("reopen", {"message": "まだ届いていません"}),
        ("reassign", {"team": "platform", "message": "配信基盤の問題です"}),
    ):
        changed = httpx.post(f"{api}/v1/tasks/{task_id}/{action}", json=body, timeout=30)
        assert changed.status_code == 200, changed.text

    def routed_again(team: str) -> list[CloudEvent]:
        def mine(records: list[object]) -> list[CloudEvent]:
            events = [CloudEvent.from_bytes(r.value) for r in records]  # type: ignore[attr-defined]
            return [e for e in events if e.subject == task_id and e.id != derived_id(
                "task.routed", response.json()["id"])]  # fmt: skip

        records = read_topic(bootstrap, topics.team_topic(team), lambda rs: bool(mine(rs)))
        return mine(records)

    (reopened,) = routed_again("billing")
    assert reopened.data["reopened_at"] is not None
    assert reopened.data["reason"] == "reopened: まだ届いていません"
    (moved,) = routed_again("platform")
    assert moved.data["reassigned_from"] == "billing"


def post_zendesk(
    platform: Platform, fixture: str, ticket_id: str, component: str | None = None
) -> httpx.Response:
    webhook = json.loads((FIXTURES / fixture).read_text(encoding="utf-8"))
    webhook["ticket"]["id"] = ticket_id
    if component is not None:
        webhook["ticket"]["component"] = component
    body = json.dumps(webhook, ensure_ascii=False).encode("utf-8")
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": sign_zendesk(ZENDESK_SECRET.encode(), stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }
    return httpx.post(
        f"{platform.ingest.url}/v1/sources/zendesk/webhooks", content=body, headers=headers
    )


def test_the_askers_later_comment_reaches_the_team_on_its_task(platform: Platform) -> None:
    ticket_id = str(uuid.uuid4().int % 10**9)
    # a component of its own: a billing-ui ticket would join another test's open task
    component = f"comment-{ticket_id}"
    created = post_zendesk(platform, "zendesk_ticket_created.json", ticket_id, component)
    assert created.status_code == 202, created.text
    ticket_event_id = derived_id("support.ticket", "/sources/zendesk", ticket_id)
    task_id = derived_id("task", ticket_event_id)
    # the customer raises the priority and writes again: Zendesk sends the ticket with the change
    changed = post_zendesk(platform, "zendesk_priority_changed.json", ticket_id, component)
    assert changed.status_code == 202, changed.text

    def updated() -> dict[str, object] | None:
        response = httpx.get(f"{platform.api.url}/v1/tasks/{task_id}", timeout=30)
        if response.status_code != 200:
            return None
        body: dict[str, object] = response.json()
        return body if body["requester_updates"] else None

    task = wait_for("the update on the ticket's task", updated)
    (update,) = task["requester_updates"]  # type: ignore[misc]
    assert update["origin_event_id"] == ticket_event_id
    assert update["ref"] == ticket_id
    assert (update["change"], update["previous_priority"], update["priority"]) == (
        "priority", "normal", "urgent",
    )  # fmt: skip
    assert update["comment"] == "急ぎでお願いします。\n月末締めです。"
    assert task["event_count"] == 1  # the update is no second request


def test_the_router_dead_lettered_nothing_from_its_first_event_on(platform: Platform) -> None:
    """A fresh app id on a fresh broker: its tables' changelogs exist before its first event."""
    metrics = httpx.get(f"{platform.router.url}/metrics", timeout=30).text
    routed = [
        line for line in metrics.splitlines() if line.startswith("handoff_router_events_total")
    ]
    assert 'handoff_router_events_total{outcome="routed"} 0.0' not in routed
    assert 'handoff_router_events_total{outcome="dead_lettered"} 0.0' in routed
