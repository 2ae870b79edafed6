"""Tracker webhooks at ingest's edge: each vendor's own proof, a forged or stale call is a
401 that publishes nothing, and each change becomes one event on handoff.tracker.

Payloads and signatures from the vendors' documentation (cited in tests/vendors/webhooks.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from schemas import topics
from schemas.trackers import TRACKER_CHANGED
from services.ingest.app import create_app
from services.ingest.publisher import BrokerHealth
from services.ingest.settings import IngestSettings
from tests.unit.services.ingest.test_ingest_app import FakeEventPublisher as RecordingPublisher
from tests.vendors import webhooks as hooks


class FakeEventPublisher(RecordingPublisher):
    """Records what it was handed (the tests' ingest publisher, ready like a broker)."""

    def ready(self, max_age_s: float) -> BrokerHealth:
        return self.check()


NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TASK = "6d1f7a3e-1b2c-5d4e-8f90-123456789abc"
SECRETS = {"jira": b"jira-hook-secret", "github": b"gh-hook-secret", "backlog": b"bl-path-secret"}


@pytest.fixture
def edge() -> Iterator[tuple[TestClient, FakeEventPublisher]]:
    publisher = FakeEventPublisher()
    settings = IngestSettings(
        ingest_tracker_secret_jira=SECRETS["jira"].decode(),  # type: ignore[arg-type]
        ingest_tracker_secret_github=SECRETS["github"].decode(),  # type: ignore[arg-type]
        ingest_tracker_secret_backlog=SECRETS["backlog"].decode(),  # type: ignore[arg-type]
    )
    app = create_app(settings, publisher=publisher, registry=CollectorRegistry(), clock=lambda: NOW)
    with TestClient(app) as client:
        yield client, publisher


def post_github(
    client: TestClient, event: str, payload: dict[str, Any], secret: bytes = SECRETS["github"]
) -> Any:
    body = hooks.to_bytes(payload)
    return client.post(
        "/v1/trackers/github/webhooks",
        content=body,
        headers=hooks.github_headers(event, secret, body),
    )


def post_jira(
    client: TestClient, payload: dict[str, Any], secret: bytes | None = SECRETS["jira"]
) -> Any:
    body = hooks.to_bytes(payload)
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature"] = hooks.hub_signature(secret, body)
    return client.post("/v1/trackers/jira/webhooks", content=body, headers=headers)


def changes(publisher: FakeEventPublisher) -> list[dict[str, Any]]:
    assert {p.topic for p in publisher.published} <= {topics.TRACKER}
    assert all(p.event.type == TRACKER_CHANGED for p in publisher.published)
    return [p.event.data for p in publisher.published]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (hooks.github_issues(TASK, NOW, "closed"), ("resolve", "")),
        (
            hooks.github_issues(TASK, NOW, "closed", "not_planned"),
            ("reject", "Closed as not planned"),
        ),
        (hooks.github_issues(TASK, NOW, "reopened"), ("reopen", "Reopened in GitHub")),
    ],
)
def test_github_issues_events_become_lifecycle_changes(
    edge: tuple[TestClient, FakeEventPublisher], payload: dict[str, Any], expected: tuple[str, str]
) -> None:
    client, publisher = edge
    response = post_github(client, "issues", payload)
    assert response.status_code == 202, response.text
    [change] = changes(publisher)
    assert (change["action"], change["message"]) == expected
    assert (change["task_id"], change["issue"]) == (TASK, "acme/billing#7")
    assert publisher.published[0].key == TASK.encode()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "#requester 新しい画面は3月10日に公開します",
            ("comment", "新しい画面は3月10日に公開します"),
        ),
        ("ラベルの文言を修正しました", ("note", "ラベルの文言を修正しました")),
    ],
)
def test_only_a_comment_tagged_for_the_requester_is_public(
    edge: tuple[TestClient, FakeEventPublisher], body: str, expected: tuple[str, str]
) -> None:
    client, publisher = edge
    assert (
        post_github(client, "issue_comment", hooks.github_comment(TASK, NOW, body)).status_code
        == 202
    )
    [change] = changes(publisher)
    assert (change["action"], change["message"]) == expected


def test_jira_done_resolves_with_the_transition_comment_and_reopen_reopens(
    edge: tuple[TestClient, FakeEventPublisher],
) -> None:
    client, publisher = edge
    assert (
        post_jira(
            client, hooks.jira_done(TASK, NOW, "#customer ボタンを上部に移動しました")
        ).status_code
        == 202
    )
    assert post_jira(client, hooks.jira_reopened(TASK, NOW)).status_code == 202
    assert (
        post_jira(client, hooks.jira_done(TASK, NOW + timedelta(seconds=1), None)).status_code
        == 202
    )
    found = [(c["action"], c["message"], c["issue"]) for c in changes(publisher)]
    assert found == [
        ("resolve", "ボタンを上部に移動しました", "BILL-7"),
        ("reopen", "Reopened in Jira", "BILL-7"),
        ("resolve", "Done", "BILL-7"),  # no comment: the resolution's name
    ]


def test_backlog_closed_with_a_comment_resolves_through_the_secret_path(
    edge: tuple[TestClient, FakeEventPublisher],
) -> None:
    client, publisher = edge
    body = hooks.to_bytes(hooks.backlog_closed(TASK, NOW, "修正をリリースしました"))
    headers = {"Content-Type": "application/json"}
    assert (
        client.post(
            "/v1/trackers/backlog/webhooks/wrong-secret", content=body, headers=headers
        ).status_code
        == 401
    )
    assert publisher.published == []
    response = client.post(
        "/v1/trackers/backlog/webhooks/bl-path-secret", content=body, headers=headers
    )
    assert response.status_code == 202, response.text
    [change] = changes(publisher)
    assert (change["action"], change["message"], change["issue"]) == (
        "resolve",
        "修正をリリースしました",
        "BILL-7",
    )


def test_forged_unsigned_and_stale_webhooks_are_refused_401_and_publish_nothing(
    edge: tuple[TestClient, FakeEventPublisher],
) -> None:
    client, publisher = edge
    closed = hooks.github_issues(TASK, NOW, "closed")
    assert post_github(client, "issues", closed, secret=b"not-the-secret").status_code == 401
    assert post_jira(client, hooks.jira_done(TASK, NOW, None), secret=b"forged").status_code == 401
    assert post_jira(client, hooks.jira_done(TASK, NOW, None), secret=None).status_code == 401
    stale = post_github(
        client, "issues", hooks.github_issues(TASK, NOW - timedelta(hours=1), "closed")
    )
    assert stale.status_code == 401
    assert "outside the window" in stale.json()["detail"]
    tampered = hooks.to_bytes(closed)
    headers = hooks.github_headers("issues", SECRETS["github"], tampered)
    replaced = tampered.replace(b'"closed"', b'"reopened"', 1)
    assert (
        client.post("/v1/trackers/github/webhooks", content=replaced, headers=headers).status_code
        == 401
    )
    assert publisher.published == []


def test_an_issue_handoff_did_not_make_is_accepted_and_ignored(
    edge: tuple[TestClient, FakeEventPublisher],
) -> None:
    client, publisher = edge
    payload = hooks.github_issues(TASK, NOW, "closed")
    payload["issue"]["body"] = "an engineer's own issue"
    assert post_github(client, "issues", payload).status_code == 202
    assert publisher.published == []


def test_an_unconfigured_tracker_refuses_every_call() -> None:
    app = create_app(
        IngestSettings(),
        publisher=FakeEventPublisher(),
        registry=CollectorRegistry(),
        clock=lambda: NOW,
    )
    with TestClient(app) as client:
        response = post_jira(client, hooks.jira_done(TASK, NOW, None))
    assert response.status_code == 401
    assert "HANDOFF_INGEST_TRACKER_SECRET_JIRA" in response.json()["detail"]
