from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.events import CloudEvent, TaskRouted
from services.core.grouping import GroupedTask, GroupEvent
from services.core.sla import SlaClock, SlaClocks
from services.router.clock_table import OpenClock
from services.router.inbound import PoisonMessageError, decode_incoming
from services.router.internal import decision_messages, decode_decision, encode_decision, load
from services.router.outbound import escalated_event, routed_event, sla_event
from services.rules.rules_file import read_routing_rules
from tests.unit.services.router.test_app import EXAMPLE

T0 = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
RULES = read_routing_rules(EXAMPLE)


def make_event(type_: str = "support.ticket", **data: Any) -> bytes:
    body: dict[str, Any] = {
        "ticket_id": "ZD-1",
        "subject": "請求書の画面が分かりにくい",
        "requester_email": "Taro@Example.co.jp",
        "priority": "urgent",
        "component": "Billing-UI",
    }
    body.update(data)
    event = {"specversion": "1.0", "id": "ev-1", "source": "handoff/ingest/support",
             "type": type_, "time": T0.isoformat(), "data": body}  # fmt: skip
    return json.dumps(event, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("data", "account"),
    [
        ({}, "example.co.jp"),
        ({"requester_email": "hanako@gmail.com"}, "hanako@gmail.com"),
        ({"company_id": "C-7"}, "company:C-7"),
        ({"company_id": "C-7", "crm_account_id": "CRM-1"}, "crm:CRM-1"),
    ],
)
def test_every_event_gets_its_account_label(data: dict[str, Any], account: str) -> None:
    incoming = decode_incoming(make_event(**data), "support.ticket")
    assert incoming.account == incoming.labels["account"] == account


def test_labels_are_the_envelope_and_the_normalised_data() -> None:
    labels = decode_incoming(make_event(), "support.ticket").labels
    assert (labels["type"], labels["source"], labels["id"]) == (
        "support.ticket", "handoff/ingest/support", "ev-1")  # fmt: skip
    assert (labels["component"], labels["priority"]) == ("billing-ui", "urgent")


@pytest.mark.parametrize(
    ("value", "error_type"),
    [
        (None, "EmptyMessage"),
        (b"{", "InvalidJson"),
        (make_event("sales.note", intent="rush_order"), "InvalidSalesNote"),
    ],
)
def test_what_cannot_be_routed_is_poison(value: bytes | None, error_type: str) -> None:
    with pytest.raises(PoisonMessageError) as err:
        decode_incoming(value, "sales.note")
    assert err.value.error_type == error_type


def test_a_decision_survives_the_internal_topic() -> None:
    incoming = decode_incoming(make_event(), "support.ticket")
    (message,) = decision_messages(
        incoming, RULES.decide(incoming.labels, T0), rules_version=RULES.version
    )
    again = decode_decision(load(encode_decision(message)))
    assert again == message


def test_routed_event_carries_the_group_and_the_rule() -> None:
    incoming = decode_incoming(make_event(), "support.ticket")
    (message,) = decision_messages(incoming, RULES.decide(incoming.labels, T0), rules_version="v9")
    task = GroupedTask.open(
        message.task_id, "g", GroupEvent("ev-1", "example.co.jp", "taro@example.co.jp", T0)
    )
    event = routed_event(message, task, routed_at=T0, event_id="r-1")
    routed = TaskRouted.model_validate(event.data)
    assert (routed.rules_version, routed.group_key, routed.event_count) == (
        "v9", message.decision.group_key, 1)  # fmt: skip
    assert routed.component == "billing-ui"


def test_sla_events_and_escalations_have_ids_from_the_task() -> None:
    due = T0 + timedelta(hours=1)
    clocks = SlaClocks(SlaClock("acknowledge", timedelta(hours=1), T0, due), None)
    incoming = decode_incoming(make_event(), "support.ticket")
    (message,) = decision_messages(incoming, RULES.decide(incoming.labels, T0), rules_version="v")
    task = GroupedTask.open(message.task_id, "g", GroupEvent("ev-1", "a", None, T0))
    routed = json.loads(routed_event(message, task, routed_at=T0, event_id="r").to_bytes())
    clock = OpenClock("t-1", "billing", "eng-oncall", "a", clocks, routed)
    assert OpenClock.from_json(clock.to_json()) == clock
    at_risk, breached = clock.due(due)
    assert (
        sla_event(clock, breached).id
        == sla_event(clock, breached).id
        != sla_event(clock, at_risk).id
    )
    escalated = escalated_event(clock, breached, at=due)
    assert escalated is not None
    assert CloudEvent.model_validate(escalated.model_dump()).data["team"] == "eng-oncall"
