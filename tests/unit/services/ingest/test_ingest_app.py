"""The ingest HTTP edge: validation, the CloudEvent it produces, and the 503 path."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from schemas import topics
from schemas.events import CloudEvent, derived_id
from services.ingest.app import create_app
from services.ingest.publisher import BrokerHealth, PublishError
from services.ingest.settings import IngestSettings

URL = "/v1/sources/support/tickets"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
MAX_BODY = 4096


@dataclass
class Published:
    topic: str
    key: bytes
    value: bytes

    @property
    def event(self) -> CloudEvent:
        return CloudEvent.from_bytes(self.value)


@dataclass
class FakeEventPublisher:
    """Records what it was handed; ``down`` makes it behave like an unreachable broker."""

    down: bool = False
    published: list[Published] = field(default_factory=list)
    closed: bool = False

    def publish(self, topic: str, key: bytes, value: bytes) -> None:
        if self.down:
            raise PublishError(topic, "Kafka did not acknowledge within 2s")
        self.published.append(Published(topic, key, value))

    def check(self) -> BrokerHealth:
        if self.down:
            return BrokerHealth(False, "cannot reach Kafka at 127.0.0.1:1")
        return BrokerHealth(True, "Kafka answers")

    def close(self) -> None:
        self.closed = True


@dataclass
class Ingest:
    client: TestClient
    publisher: FakeEventPublisher
    registry: CollectorRegistry

    def post(self, body: Any, **kwargs: Any) -> Any:
        return self.client.post(URL, json=body, **kwargs)

    def post_raw(self, content: bytes, content_type: str | None = "application/json") -> Any:
        headers = {"Content-Type": content_type} if content_type else {}
        return self.client.post(URL, content=content, headers=headers)

    def count(self, outcome: str) -> float:
        labels = {"source": "support", "outcome": outcome}
        value = self.registry.get_sample_value("handoff_ingest_events_total", labels)
        assert value is not None
        return value


@pytest.fixture
def ingest() -> Iterator[Ingest]:
    publisher = FakeEventPublisher()
    registry = CollectorRegistry()
    settings = IngestSettings(
        ingest_max_body_bytes=MAX_BODY, ingest_ack_timeout_s=2, ingest_unsigned_sources=("support",)
    )
    app = create_app(settings, publisher=publisher, registry=registry, clock=lambda: NOW)
    with TestClient(app) as client:
        yield Ingest(client, publisher, registry)


def make_ticket(**overrides: Any) -> dict[str, Any]:
    ticket: dict[str, Any] = {
        "ticket_id": "ZD-1001",
        "subject": "The invoice screen is confusing",
        "description": "Where do I change the billing address?",
        "requester_email": "taro@example.co.jp",
        "priority": "high",
        "component": "billing-ui",
    }
    ticket.update(overrides)
    return {k: v for k, v in ticket.items() if v is not None}


def test_accepted_ticket_is_published_once_as_a_cloudevent(ingest: Ingest) -> None:
    response = ingest.post(make_ticket())

    assert response.status_code == 202, response.text
    expected_id = derived_id("support.ticket", "/sources/support", "ZD-1001")
    assert response.json() == {
        "id": expected_id,
        "account": "example.co.jp",
        "topic": topics.INGEST_SUPPORT,
    }
    [sent] = ingest.publisher.published
    assert sent.topic == topics.INGEST_SUPPORT
    assert sent.key == b"example.co.jp"
    event = sent.event
    assert event.specversion == "1.0"
    assert (event.type, event.source) == ("support.ticket", "/sources/support")
    assert event.id == expected_id
    assert event.subject == "ZD-1001"
    assert event.time == NOW
    assert event.datacontenttype == "application/json"
    assert event.data["subject"] == "The invoice screen is confusing"
    assert event.data["priority"] == "high"
    assert event.data["component"] == "billing-ui"
    assert ingest.count("accepted") == 1


def test_same_ticket_id_gives_the_same_event_id(ingest: Ingest) -> None:
    first = ingest.post(make_ticket(subject="first"))
    again = ingest.post(make_ticket(subject="retried webhook"))

    assert first.json()["id"] == again.json()["id"]
    assert [p.event.id for p in ingest.publisher.published] == [first.json()["id"]] * 2


def test_without_ticket_id_every_post_gets_a_fresh_random_id(ingest: Ingest) -> None:
    ids = [ingest.post(make_ticket(ticket_id=None)).json()["id"] for _ in range(2)]

    assert ids[0] != ids[1]
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert all(p.event.subject is None for p in ingest.publisher.published)


def test_created_at_from_the_helpdesk_is_the_event_time(ingest: Ingest) -> None:
    response = ingest.post(make_ticket(created_at="2026-03-01T08:00:00+09:00"))

    assert response.status_code == 202, response.text
    event = ingest.publisher.published[0].event
    assert event.time == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("email", "account"),
    [
        ("taro@example.co.jp", "example.co.jp"),
        ("Hanako.Sato@Sakura-Shoji.JP", "sakura-shoji.jp"),
        ("someone@gmail.com", "someone@gmail.com"),
        ("kenji@docomo.ne.jp", "kenji@docomo.ne.jp"),
    ],
)
def test_kafka_key_is_the_account(ingest: Ingest, email: str, account: str) -> None:
    response = ingest.post(make_ticket(requester_email=email))

    assert response.status_code == 202, response.text
    assert response.json()["account"] == account
    assert ingest.publisher.published[0].key == account.encode()


def test_japanese_text_reaches_the_event_byte_for_byte(ingest: Ingest) -> None:
    subject = "請求書の画面が分かりにくい"
    description = "支払い方法の変更ボタンが見つかりません。😀 ｶﾀｶﾅ"
    body = json.dumps(make_ticket(subject=subject, description=description), ensure_ascii=False)

    response = ingest.post_raw(body.encode("utf-8"))

    assert response.status_code == 202, response.text
    value = ingest.publisher.published[0].value
    assert subject.encode("utf-8") in value
    assert description.encode("utf-8") in value
    data = ingest.publisher.published[0].event.data
    assert (data["subject"], data["description"]) == (subject, description)


def test_escaped_unicode_in_the_request_arrives_as_the_same_text(ingest: Ingest) -> None:
    body = json.dumps(make_ticket(subject="ログインできません"), ensure_ascii=True)

    ingest.post_raw(body.encode("ascii"))

    assert "ログインできません".encode() in ingest.publisher.published[0].value


def test_html_in_the_description_is_kept_as_text(ingest: Ingest) -> None:
    html = '<p onclick="x()">支払い &amp; <b>請求</b></p><script>alert(1)</script>'

    response = ingest.post(make_ticket(description=html))

    assert response.status_code == 202, response.text
    assert ingest.publisher.published[0].event.data["description"] == html


def _fields(response: Any) -> dict[tuple[str, ...], str]:
    return {tuple(map(str, e["loc"])): e["type"] for e in response.json()["detail"]}


@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        (make_ticket(subject=None), ("body", "subject"), "missing"),
        (make_ticket(subject="   "), ("body", "subject"), "string_too_short"),
        (make_ticket(subject="x" * 501), ("body", "subject"), "string_too_long"),
        (make_ticket(requester_email=None), ("body", "requester_email"), "missing"),
        (make_ticket(requester_email="not-an-address"), ("body", "requester_email"), "value_error"),
        (make_ticket(requester_email="taro@"), ("body", "requester_email"), "value_error"),
        (make_ticket(priority="whenever"), ("body", "priority"), "enum"),
        (make_ticket(component="Billing UI!"), ("body", "component"), "string_pattern_mismatch"),
        (make_ticket(created_at="2026-03-01T08:00:00"), ("body", "created_at"), "timezone_aware"),
        (make_ticket(assignee="bob"), ("body", "assignee"), "extra_forbidden"),
        (make_ticket(subject=12), ("body", "subject"), "string_type"),
        (["not", "an", "object"], ("body",), "model_type"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(
    ingest: Ingest, body: Any, loc: tuple[str, ...], error_type: str
) -> None:
    response = ingest.post(body)

    assert response.status_code == 422, response.text
    assert _fields(response).get(loc) == error_type, response.json()
    assert all(e["msg"] for e in response.json()["detail"])
    assert ingest.publisher.published == []
    assert ingest.count("rejected") == 1


def test_every_invalid_field_is_reported_at_once(ingest: Ingest) -> None:
    response = ingest.post(make_ticket(subject=None, priority="meh", requester_email="x"))

    assert response.status_code == 422
    assert set(_fields(response)) == {
        ("body", "subject"),
        ("body", "priority"),
        ("body", "requester_email"),
    }


@pytest.mark.parametrize(
    ("content", "error_type"),
    [
        (b"subject=hello", "json_invalid"),
        (b'{"subject": "unterminated', "json_invalid"),
        (b"", "json_invalid"),
        (b'{"subject": "\\ud800", "requester_email": "a@example.com"}', "json_invalid"),
        (b'{"subject": "\xff\xfe broken", "requester_email": "a@example.com"}', "utf8_invalid"),
        ('{"subject": "件名"}'.encode("shift_jis"), "utf8_invalid"),
    ],
    ids=["form", "truncated", "empty", "lone-surrogate", "bad-bytes", "shift-jis"],
)
def test_bodies_that_are_not_utf8_json_are_422_not_500(
    ingest: Ingest, content: bytes, error_type: str
) -> None:
    response = ingest.post_raw(content)

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body"], error_type)
    assert error["msg"]
    assert ingest.publisher.published == []


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=shift_jis",
        "application/jsonx",
    ],
)
def test_other_media_types_are_415(ingest: Ingest, content_type: str | None) -> None:
    response = ingest.post_raw(json.dumps(make_ticket()).encode(), content_type=content_type)

    assert response.status_code == 415, response.text
    assert "detail" in response.json()
    assert ingest.publisher.published == []
    assert ingest.count("unsupported_media") == 1


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=UTF-8", 'application/json;charset="utf-8"'],
)
def test_json_media_type_with_utf8_charset_is_accepted(ingest: Ingest, content_type: str) -> None:
    response = ingest.post_raw(json.dumps(make_ticket()).encode(), content_type=content_type)

    assert response.status_code == 202, response.text


def test_compressed_bodies_are_415(ingest: Ingest) -> None:
    response = ingest.client.post(
        URL,
        content=b"\x1f\x8b...",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )

    assert response.status_code == 415
    assert "Content-Encoding" in response.json()["detail"]


def test_body_over_the_limit_is_413(ingest: Ingest) -> None:
    response = ingest.post(make_ticket(description="x" * MAX_BODY))

    assert response.status_code == 413, response.text
    assert str(MAX_BODY) in response.json()["detail"]
    assert ingest.publisher.published == []
    assert ingest.count("too_large") == 1


def test_body_exactly_at_the_limit_is_read(ingest: Ingest) -> None:
    body = json.dumps(make_ticket(description="")).encode()
    padded = body[:-1] + b" " * (MAX_BODY - len(body)) + b"}"
    assert len(padded) == MAX_BODY

    assert ingest.post_raw(padded).status_code == 202


def test_streamed_body_without_content_length_is_counted_and_cut_at_the_limit(
    ingest: Ingest,
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = ingest.client.post(
        URL, content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413, response.text
    assert ingest.count("too_large") == 1


def test_declared_oversized_length_is_refused_before_reading(ingest: Ingest) -> None:
    body = json.dumps(make_ticket()).encode()
    response = ingest.client.post(
        URL,
        content=body,
        headers={"Content-Type": "application/json", "Content-Length": str(MAX_BODY + 1)},
    )

    assert response.status_code == 413


def test_malformed_content_length_is_400(ingest: Ingest) -> None:
    response = ingest.client.post(
        URL, content=b"{}", headers={"Content-Type": "application/json", "Content-Length": "12abc"}
    )

    assert response.status_code == 400
    assert "Content-Length" in response.json()["detail"]


def test_broker_not_acking_is_503_with_retry_after_and_counted(ingest: Ingest) -> None:
    ingest.publisher.down = True

    response = ingest.post(make_ticket())

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Kafka did not acknowledge" in response.json()["detail"]
    assert ingest.publisher.published == []
    assert ingest.count("unavailable") == 1
    assert ingest.count("accepted") == 0


def test_service_recovers_when_the_broker_comes_back(ingest: Ingest) -> None:
    ingest.publisher.down = True
    assert ingest.post(make_ticket()).status_code == 503

    ingest.publisher.down = False

    assert ingest.post(make_ticket()).status_code == 202
    assert len(ingest.publisher.published) == 1


def test_healthz_reports_broker_reachability(ingest: Ingest) -> None:
    up = ingest.client.get("/healthz")
    ingest.publisher.down = True
    down = ingest.client.get("/healthz")

    assert up.status_code == 200
    assert up.json()["kafka"]["reachable"] is True
    assert down.status_code == 503
    assert down.json() == {
        "status": "unavailable",
        "kafka": {"reachable": False, "detail": "cannot reach Kafka at 127.0.0.1:1"},
    }


def test_metrics_page_exposes_counters_and_publish_latency(ingest: Ingest) -> None:
    ingest.post(make_ticket())
    ingest.post(make_ticket(priority="nope"))

    page = ingest.client.get("/metrics")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert 'handoff_ingest_events_total{outcome="accepted",source="support"} 1.0' in text
    assert 'handoff_ingest_events_total{outcome="rejected",source="support"} 1.0' in text
    assert 'handoff_ingest_events_total{outcome="unavailable",source="support"} 0.0' in text
    assert "handoff_ingest_publish_seconds_count 1.0" in text


def test_an_injected_publisher_is_not_closed_by_the_app() -> None:
    publisher = FakeEventPublisher()
    with TestClient(
        create_app(IngestSettings(ingest_unsigned_sources=("support",)), publisher=publisher)
    ):
        pass

    assert publisher.closed is False


def test_openapi_documents_the_ticket_body(ingest: Ingest) -> None:
    document = ingest.client.get("/openapi.json").json()

    body = document["paths"][URL]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"subject", "requester_email"}
    assert schema["properties"]["priority"]["$ref"] == "#/components/schemas/Priority"
    assert "urgent" in document["components"]["schemas"]["Priority"]["enum"]


def test_a_client_leaving_mid_body_is_a_400_not_a_500(ingest: Ingest) -> None:
    app: Any = ingest.client.app
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"subject": ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8001),
    }
    anyio.run(app, scope, receive, send)

    assert sent[0]["status"] == 400
    assert ingest.count("rejected") == 1
    assert ingest.publisher.published == []
