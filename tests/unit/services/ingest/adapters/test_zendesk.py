"""Zendesk ticket webhooks: created, updated (linked), and the ugly cases."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from schemas import topics
from schemas.events import (
    SUPPORT_TICKET,
    SUPPORT_TICKET_UPDATED,
    CloudEvent,
    SupportTicket,
    TicketUpdated,
    derived_id,
)
from services.ingest.adapters import zendesk
from services.ingest.adapters.base import AdapterError

from .fixtures import CTX, RECEIVED, load


def test_a_new_ticket_is_one_support_ticket_event() -> None:
    [out] = zendesk.adapt(load("zendesk_ticket_created.json"), CTX)

    assert out.topic == topics.INGEST_SUPPORT
    assert out.key == "company:ACME-JP-001"  # organization external_id wins over the e-mail
    assert out.event.type == SUPPORT_TICKET
    assert out.event.source == "/sources/zendesk"
    assert out.event.id == derived_id(SUPPORT_TICKET, "/sources/zendesk", "35436")
    assert out.event.subject == "35436"
    ticket = SupportTicket.model_validate(out.event.data)
    assert ticket.subject == "請求書の画面が分かりにくい"
    assert (
        ticket.description
        == "支払い方法の変更ボタンが見つかりません。\n\nBilling & invoices > Payment"
    )
    assert ticket.priority == "urgent"
    assert ticket.status == "open"
    assert ticket.requester_email == "taro.yamada@example.co.jp"
    assert ticket.organization == "株式会社サンプル"
    assert ticket.tags == ["billing", "vip", "請求"]
    assert ticket.custom_fields == {"27642": "745", "27648": "yes", "360001": "billing_ui,mobile"}
    assert ticket.component == "billing-ui"
    assert out.event.time.isoformat() == "2026-03-02T09:12:00+00:00"


def test_the_organisations_domain_names_are_kept_for_identity_resolution() -> None:
    """``organization.domain_names``: "An array of domain names associated with this
    organization" (https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/)."""
    body = load("zendesk_ticket_created.json")
    body["ticket"]["organization"] |= {"domain_names": ["Sample.co.jp", "sample-group.com"]}
    [out] = zendesk.adapt(body, CTX)
    assert out.key == "company:ACME-JP-001"  # the Kafka key is unchanged
    ticket = SupportTicket.model_validate(out.event.data)
    assert ticket.company_domains == ["sample.co.jp", "sample-group.com"]
    plain = zendesk.adapt(load("zendesk_ticket_created.json"), CTX)[0].event.data
    assert plain["company_domains"] is None  # the organisation named none
    body["ticket"]["organization"]["domain_names"] = "sample.co.jp"
    assert SupportTicket.model_validate(zendesk.adapt(body, CTX)[0].event.data).company_domains
    body["ticket"]["organization"]["domain_names"] = {"a": 1}
    with pytest.raises(AdapterError) as refused:
        zendesk.adapt(body, CTX)
    assert "body.ticket.organization.domain_names" in str(refused.value)


def test_the_event_survives_the_wire_byte_for_byte() -> None:
    [out] = zendesk.adapt(load("zendesk_ticket_created.json"), CTX)
    raw = out.event.to_bytes()
    assert "請求書の画面が分かりにくい".encode() in raw
    assert CloudEvent.from_bytes(raw) == out.event


def test_a_priority_change_is_the_ticket_plus_an_update_linked_to_it() -> None:
    ticket_out, update_out = zendesk.adapt(load("zendesk_priority_changed.json"), CTX)

    ticket_id = derived_id(SUPPORT_TICKET, "/sources/zendesk", "35436")
    assert ticket_out.event.id == ticket_id  # the same id as the creation webhook's
    assert update_out.event.type == SUPPORT_TICKET_UPDATED
    assert update_out.event.id == derived_id(
        SUPPORT_TICKET_UPDATED, "/sources/zendesk", "35436", "2026-03-02T10:05:30+00:00"
    )
    assert update_out.key == ticket_out.key == "company:ACME-JP-001"
    assert update_out.topic == topics.INGEST_SUPPORT
    update = TicketUpdated.model_validate(update_out.event.data)
    assert update.ticket_event_id == ticket_id
    assert update.change == "priority"
    assert update.priority == "urgent"  # "URGENT" in any case
    assert update.previous_priority == "normal"
    assert update.comment == "急ぎでお願いします。\n月末締めです。"
    assert update.comment_public is True
    assert update.status == "pending"


def test_a_retried_webhook_is_the_same_events() -> None:
    first = zendesk.adapt(load("zendesk_priority_changed.json"), CTX)
    again = zendesk.adapt(load("zendesk_priority_changed.json"), CTX)
    assert [o.event.id for o in first] == [o.event.id for o in again]


def test_time_zones_are_kept_and_compared_as_instants() -> None:
    # created 18:12+09:00 = 09:12Z, updated 10:05Z: later, so an update
    outs = zendesk.adapt(load("zendesk_priority_changed.json"), CTX)
    assert outs[0].event.time.utcoffset() is not None
    assert outs[0].event.data["created_at"] == "2026-03-02T18:12:00+09:00"


def minimal(**ticket: Any) -> dict[str, Any]:
    body = {"id": 7, "subject": "Login broken", "requester": {"email": "a@b.example"}}
    return {"ticket": body | ticket}


def test_missing_optional_fields_take_defaults() -> None:
    [out] = zendesk.adapt(minimal(), CTX)
    ticket = SupportTicket.model_validate(out.event.data)
    assert ticket.priority == "normal"
    assert ticket.description == ""
    assert ticket.tags is None
    assert out.event.time == RECEIVED
    assert out.key == "b.example"


def test_a_bare_ticket_without_the_wrapper_is_read_too() -> None:
    [out] = zendesk.adapt(minimal()["ticket"], CTX)
    assert out.event.subject == "7"


def test_an_empty_priority_placeholder_is_normal() -> None:
    [out] = zendesk.adapt(minimal(priority="-"), CTX)
    assert out.event.data["priority"] == "normal"


def test_a_long_subject_is_clipped_not_refused() -> None:
    [out] = zendesk.adapt(minimal(subject="長" * 800), CTX)
    assert len(out.event.data["subject"]) == 500


@pytest.mark.parametrize(
    ("change", "loc", "reason"),
    [
        ({"id": None}, ["body", "ticket", "id"], "field required"),
        ({"priority": "critical"}, ["body", "ticket", "priority"], "unknown priority"),
        (
            {"requester": {"email": "not-an-address"}},
            ["body", "ticket", "requester_email"],
            "email",
        ),
        ({"requester": "someone"}, ["body", "ticket", "requester"], "JSON object"),
        ({"created_at": "2026-03-02T09:12:00"}, ["body", "ticket", "created_at"], "time zone"),
        (
            {"custom_fields": [{"value": 1}]},
            ["body", "ticket", "custom_fields", 0, "id"],
            "required",
        ),
    ],
)
def test_bad_payloads_are_refused_naming_the_field(
    change: dict[str, Any], loc: list[Any], reason: str
) -> None:
    with pytest.raises(AdapterError, match=reason) as caught:
        zendesk.adapt(minimal(**change), CTX)
    assert caught.value.errors[0]["loc"] == loc


def test_a_comment_event_without_times_needs_the_update_time() -> None:
    payload = copy.deepcopy(minimal(latest_comment={"body": "hi"}))
    payload["event"] = {"type": "comment_added"}
    with pytest.raises(AdapterError, match="update needs its time"):
        zendesk.adapt(payload, CTX)
