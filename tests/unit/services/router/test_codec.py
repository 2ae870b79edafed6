from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.events import CloudEvent, TaskRouted, derived_id
from services.core.rules import load_rules
from services.router.codec import PoisonMessageError, decode_ticket, routed_event

T0 = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
RULES = load_rules(
    {
        "default_team": "triage",
        "components": {"billing-ui": "billing"},
        "sla": {"urgent": "1h", "high": "4h", "normal": "1d", "low": "3d"},
    }
)


def make_event(**data: Any) -> dict[str, Any]:
    ticket: dict[str, Any] = {
        "ticket_id": "ZD-1",
        "subject": "請求書の画面が分かりにくい",
        "requester_email": "taro@example.co.jp",
        "priority": "urgent",
        "component": "billing-ui",
    }
    ticket.update(data)
    return {
        "specversion": "1.0",
        "id": "ev-1",
        "source": "handoff/ingest/support",
        "type": "support.ticket",
        "time": T0.isoformat(),
        "data": ticket,
    }


def as_bytes(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def test_decodes_a_ticket_and_resolves_its_account() -> None:
    incoming = decode_ticket(as_bytes(make_event()))
    assert incoming.event.id == "ev-1"
    assert incoming.ticket.subject == "請求書の画面が分かりにくい"
    assert incoming.account == "example.co.jp"


@pytest.mark.parametrize(
    ("value", "error_type", "says"),
    [
        pytest.param(None, "EmptyMessage", "no value", id="tombstone"),
        pytest.param(b"", "InvalidJson", "not JSON", id="empty"),
        pytest.param(b"\xff\xfe garbage", "InvalidJson", "not JSON", id="binary"),
        pytest.param(b'{"id": "x"', "InvalidJson", "not JSON", id="truncated"),
        pytest.param(b"[1, 2]", "InvalidCloudEvent", "not a CloudEvent", id="json-not-object"),
        pytest.param(
            as_bytes({k: v for k, v in make_event().items() if k != "id"}),
            "InvalidCloudEvent",
            "id: Field required",
            id="no-id",
        ),
        pytest.param(
            as_bytes({**make_event(), "type": "sales.note"}),
            "UnexpectedEventType",
            "'sales.note' is not 'support.ticket'",
            id="wrong-type",
        ),
        pytest.param(
            as_bytes(make_event(requester_email="nobody")),
            "InvalidSupportTicket",
            "data.requester_email",
            id="bad-email",
        ),
        pytest.param(
            as_bytes(make_event(priority="whenever")),
            "InvalidSupportTicket",
            "data.priority",
            id="bad-priority",
        ),
        pytest.param(
            as_bytes(make_event(subject="   ")),
            "InvalidSupportTicket",
            "data.subject",
            id="blank-subject",
        ),
    ],
)
def test_what_cannot_be_routed_is_poison_with_a_reason(
    value: bytes | None, error_type: str, says: str
) -> None:
    with pytest.raises(PoisonMessageError) as raised:
        decode_ticket(value)
    assert raised.value.error_type == error_type
    assert says in raised.value.reason


def test_routed_event_carries_the_route_and_deterministic_ids() -> None:
    incoming = decode_ticket(as_bytes(make_event()))
    route = RULES.route(component="billing-ui", priority="urgent", raised_at=incoming.event.time)
    routed_at = T0 + timedelta(seconds=2)
    event = routed_event(incoming, route, routed_at=routed_at)
    again = CloudEvent.from_bytes(event.to_bytes())
    assert again == event
    assert again.type == "task.routed"
    assert again.id == derived_id("task.routed", "ev-1")
    assert again.source == "handoff/router"
    task = TaskRouted.model_validate(again.data)
    assert task.task_id == derived_id("task", "ev-1") == again.subject
    assert (task.team, task.rule) == ("billing", "component:billing-ui")
    assert task.sla_due == T0 + timedelta(hours=1)
    assert (task.raised_at, task.routed_at) == (T0, routed_at)
    assert task.account == "example.co.jp"
    assert task.source == "handoff/ingest/support"
    assert task.subject == "請求書の画面が分かりにくい"
    assert "請求書".encode() in event.to_bytes()
