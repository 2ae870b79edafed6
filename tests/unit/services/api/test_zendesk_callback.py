"""Issue 16.8: a callback's method, URL template, headers and auth; Zendesk's update body.

The deliverer sends to a local Zendesk (``tests/zendesk_receiver.py``) that checks the
method, path, auth and body as Zendesk's "Update Ticket" documents them:
``PUT /api/v2/tickets/{ticket_id}`` with ``{"ticket": {"comment": {"body", "public"},
"status"}}``, basic auth ``{email}/token:{api_token}`` or a bearer token
(https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from services.api.callbacks import Deliverer, DeliveryPolicy
from services.api.db import Callback, DeliveryAttempt
from tests.zendesk_receiver import ZendeskTickets

SOURCE = "/sources/zendesk"
EMAIL = "agent@acme.example"
TOKEN = "zd-api-token-6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv"


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, key: bytes | None, value: bytes) -> None:
        self.sent.append(value)


@pytest.fixture
def zendesk() -> Iterator[ZendeskTickets]:
    tickets = ZendeskTickets(EMAIL, TOKEN, bearer="oauth-token-123")
    yield tickets
    tickets.close()


@pytest.fixture
def make_routed(make_routed: Any) -> Any:
    return lambda sid="zendesk-1", **o: make_routed(sid, **({"source": SOURCE} | o))


def register(client: TestClient, url: str, **extra: Any) -> Any:
    body = {"source": SOURCE, "url": url, "format": "zendesk"} | extra
    return client.put("/v1/admin/callbacks", json=body)


def deliver(engine: sa.Engine, clock: Any) -> None:
    policy = DeliveryPolicy(max_attempts=3, backoff_initial_s=1.0, timeout_s=5.0)
    deliverer = Deliverer(engine, policy, dead_letters=FakeDeadLetters(), clock=clock)
    for _ in range(3):
        deliverer.run_once()
        clock.advance(5)


BASIC = {"scheme": "basic", "username": f"{EMAIL}/token", "secret_env": "HANDOFF_CALLBACK_ZD"}


def test_a_resolution_reaches_each_ticket_as_zendesks_documented_put(
    client: TestClient,
    add_task: Any,
    engine: sa.Engine,
    clock: Any,
    zendesk: ZendeskTickets,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    response = register(client, zendesk.url + "/api/v2/tickets/{ref}.json", auth=BASIC)
    assert response.status_code == 200, response.text
    assert response.json()["method"] == "PUT"
    shown = {k: v for k, v in response.json()["auth"].items() if v is not None}
    assert shown == BASIC  # the variable's name, never its value
    first = add_task("zd-1", origin_event_id="zd-1", origin_ref="35436")
    add_task("zd-1", origin_event_id="zd-2", origin_ref="35437")
    assert client.post(f"/v1/tasks/{first}/resolve", json={"message": "修正しました"}).is_success
    monkeypatch.setenv("HANDOFF_CALLBACK_ZD", TOKEN)  # read when sent, not when registered
    deliver(engine, clock)
    assert zendesk.refused == []
    assert sorted(u.ticket_id for u in zendesk.updates) == [35436, 35437]
    for update in zendesk.updates:
        assert update.ticket == {
            "comment": {"body": "修正しました", "public": True},
            "status": "solved",
        }


def test_an_unset_secret_fails_the_attempt_naming_the_variable_not_a_value(
    client: TestClient, add_task: Any, engine: sa.Engine, clock: Any, zendesk: ZendeskTickets
) -> None:
    register(client, zendesk.url + "/api/v2/tickets/{ref}", auth=BASIC)
    task_id = add_task("zd-1", origin_event_id="zd-1", origin_ref="7")
    assert client.post(f"/v1/tasks/{task_id}/acknowledge", json={}).is_success
    deliver(engine, clock)
    assert zendesk.updates == []
    with Session(engine) as session:
        errors = {a.error for a in session.scalars(sa.select(DeliveryAttempt))}
    assert errors == {
        "auth: environment variable HANDOFF_CALLBACK_ZD is not set in the API process"
    }


def test_bearer_auth_a_static_header_and_the_method_are_sent_as_configured(
    client: TestClient,
    add_task: Any,
    engine: sa.Engine,
    clock: Any,
    zendesk: ZendeskTickets,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bearer = {"scheme": "bearer", "secret_env": "HANDOFF_CALLBACK_ZD_OAUTH"}
    headers = {"X-On-Behalf-Of": "handoff"}
    assert register(client, zendesk.url + "/api/v2/tickets/{ticket_id}", auth=bearer,
                    headers=headers, method="PUT").status_code == 200  # fmt: skip
    monkeypatch.setenv("HANDOFF_CALLBACK_ZD_OAUTH", "oauth-token-123")
    task_id = add_task("zd-1", origin_event_id="zd-1", origin_ref="8")
    assert client.post(f"/v1/tasks/{task_id}/comments", json={"message": "調査中"}).is_success
    deliver(engine, clock)
    [update] = zendesk.updates
    assert update.ticket == {"comment": {"body": "調査中", "public": False}}  # no status
    assert update.headers["X-On-Behalf-Of"] == "handoff"
    assert "X-Handoff-Signature" not in update.headers  # no secret given: not signed
    with Session(engine) as session:
        row = session.get(Callback, SOURCE)
    assert row is not None
    assert "oauth-token-123" not in f"{row.url}{row.headers}{row.auth}{row.secret}"


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"source": "zendesk"}, "body.source", "/sources/zendesk"),
        ({"auth": None, "secret": None}, "body", "secret"),
        ({"headers": {"Authorization": "Basic eA=="}}, "body.headers", "auth"),
        (
            {"auth": {"scheme": "basic", "secret_env": "HANDOFF_CALLBACK_A"}},
            "body.auth",
            "username",
        ),
        ({"auth": BASIC | {"secret_env": "HANDOFF_DATABASE_URL"}}, "body.auth.secret_env", ""),
        ({"method": "DELETE"}, "body.method", ""),
    ],
)
def test_a_bad_callback_is_refused_naming_the_field(
    client: TestClient, change: dict[str, Any], field: str, says: str
) -> None:
    body = {"source": SOURCE, "url": "https://acme.zendesk.com/api/v2/tickets/{ref}",
            "format": "zendesk", "auth": BASIC} | change  # fmt: skip
    response = client.put("/v1/admin/callbacks", json={k: v for k, v in body.items() if v})
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert says in error["reason"]


def test_an_unknown_source_lists_the_known_ones(client: TestClient) -> None:
    response = client.put(
        "/v1/admin/callbacks",
        json={"source": "zendesk", "url": "https://x.example/hook", "secret": "s" * 16},
    )
    assert response.status_code == 422
    reason = response.json()["errors"][0]["reason"]
    for known in ("/sources/zendesk", "/sources/freshdesk", "/sources/support"):
        assert known in reason


def test_a_source_handoff_has_received_requests_from_is_known(
    client: TestClient, add_task: Any
) -> None:
    body = {"source": "/zendesk/acme", "url": "https://x.example/hook", "secret": "s" * 16}
    assert client.put("/v1/admin/callbacks", json=body).status_code == 422
    add_task("zd-9", source="/zendesk/acme")  # a request from that source was received
    assert client.put("/v1/admin/callbacks", json=body).status_code == 200
