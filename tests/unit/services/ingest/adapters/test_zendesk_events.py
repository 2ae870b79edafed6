"""Issue 16.6/16.7: Zendesk's event webhooks, and routing labels from custom fields and tags.

The payloads follow Zendesk's documented event envelope and ticket-event examples
(https://developer.zendesk.com/api-reference/webhooks/event-types/webhook-event-types/ and
https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/): top-level
``account_id``, ``detail`` (the ticket: ids as strings, ``priority``/``status`` in capitals),
``event``, ``id``, ``subject`` (``zen:ticket:<id>``), ``time``, ``type``,
``zendesk_event_version``. Custom fields as the Tickets API has them (``[{"id", "value"}]``,
https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/), Freshdesk's as
``{"cf_<name>": value}`` (https://developers.freshdesk.com/api/#tickets).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.events import SUPPORT_TICKET, SUPPORT_TICKET_UPDATED, derived_id
from services.ingest.adapters import freshdesk, zendesk
from services.ingest.adapters.base import AdapterContext, AdapterError
from services.ingest.adapters.labels import LabelRule

NOW = datetime(2025, 1, 8, 12, 0, tzinfo=UTC)
LABELS = {
    "component": LabelRule(
        custom_field="360001234567",
        values={"billing_ui": "billing-ui"},
        tags={"invoice": "invoices"},
        tag_prefix="component_",
    ),
    "product": LabelRule(custom_field="360007654321"),
}


def detail(**overrides: Any) -> dict[str, Any]:
    base = {
        "actor_id": "8447388090494",
        "assignee_id": "8447388090494",
        "brand_id": "8447346621310",
        "created_at": "2025-01-08T10:12:07Z",
        "custom_status": "8447388085118",
        "description": "請求書の画面で金額が二重に表示されます",
        "external_id": None,
        "form_id": "8646151517822",
        "group_id": "8447320466430",
        "id": "5158",
        "is_public": True,
        "organization_id": "8447346622462",
        "priority": "HIGH",
        "requester_id": "8447388090494",
        "status": "OPEN",
        "subject": "請求書画面がわかりにくい",
        "submitter_id": "8447388090494",
        "tags": ["vip", "component_billing-ui"],
        "type": "INCIDENT",
        "updated_at": "2025-01-08T10:12:07Z",
        "via": {"channel": "web_service"},
    }
    return base | overrides


def envelope(kind: str, event: dict[str, Any], **detail_overrides: Any) -> dict[str, Any]:
    return {
        "account_id": 22129848,
        "detail": detail(**detail_overrides),
        "event": event,
        "id": f"cbe4028c-7239-495d-b020-{kind[:12]:0<12}",
        "subject": "zen:ticket:5158",
        "time": "2025-01-08T11:30:15.456789012Z",
        "type": f"zen:event-type:ticket.{kind}",
        "zendesk_event_version": "2022-11-06",
    }


def ctx(**labels: LabelRule) -> AdapterContext:
    return AdapterContext(received_at=NOW, labels=labels or LABELS)


def test_ticket_created_is_one_ticket_with_its_account_priority_and_component() -> None:
    [out] = zendesk.adapt(envelope("created", {"meta": {"sequence": {"id": "A1"}}}), ctx())
    assert out.event.type == SUPPORT_TICKET
    assert out.event.id == derived_id(SUPPORT_TICKET, "/sources/zendesk", "5158")
    data = out.event.data
    assert (data["ticket_id"], data["priority"], data["status"]) == ("5158", "high", "open")
    assert data["component"] == "billing-ui"  # from the tag component_billing-ui
    assert data["subject"] == "請求書画面がわかりにくい"
    assert out.key == "company:zendesk-org-8447346622462"
    assert data["requester_email"] == "zendesk-user-8447388090494@account-22129848.zendesk"


def test_priority_changed_reports_the_change_with_its_previous_value() -> None:
    payload = envelope("priority_changed", {"current": "URGENT", "previous": "HIGH"})
    payload["detail"]["priority"] = "URGENT"
    ticket, update = zendesk.adapt(payload, ctx())
    assert update.event.type == SUPPORT_TICKET_UPDATED
    assert update.event.data["change"] == "priority"
    assert (update.event.data["priority"], update.event.data["previous_priority"]) == (
        "urgent",
        "high",
    )
    assert update.event.data["ticket_event_id"] == ticket.event.id
    # the event's own id names the change: two changes of one save are two updates
    other = envelope("status_changed", {"current": "PENDING", "previous": "OPEN"})
    assert zendesk.adapt(other, ctx())[1].event.id != update.event.id


def test_comment_added_carries_the_comment_and_whether_it_is_public() -> None:
    comment = {"author": {"id": "1", "is_staff": False, "name": "山田"}, "body": "まだ直りません",
               "id": "9", "is_public": True}  # fmt: skip
    _, update = zendesk.adapt(envelope("comment_added", {"comment": comment}), ctx())
    assert (update.event.data["change"], update.event.data["comment"]) == (
        "comment",
        "まだ直りません",
    )
    assert update.event.data["comment_public"] is True


def test_status_changed_and_other_ticket_events_are_updates() -> None:
    _, status = zendesk.adapt(
        envelope("status_changed", {"current": "SOLVED", "previous": "OPEN"}), ctx()
    )
    assert (status.event.data["change"], status.event.data["previous_status"]) == ("status", "open")
    _, other = zendesk.adapt(envelope("tags_changed", {"current": ["a"], "previous": []}), ctx())
    assert other.event.data["change"] == "other"


def test_a_requester_without_organisation_is_their_own_account() -> None:
    [out] = zendesk.adapt(envelope("created", {}, organization_id=None), ctx())
    assert out.key == "company:zendesk-user-8447388090494"


@pytest.mark.parametrize(
    ("mutate", "loc", "says"),
    [
        (lambda p: p.update(type="zen:event-type:user.created"), ["body", "type"], "ticket events"),
        (lambda p: p.pop("detail"), ["body", "detail"], "field required"),
        (lambda p: p["detail"].update(priority="SOON"), ["body", "detail", "priority"], "priority"),
        (lambda p: p["detail"].pop("requester_id"), ["body", "detail", "requester_id"], "required"),
        (lambda p: p.update(time="yesterday"), ["body", "time"], ""),
    ],
)
def test_a_bad_event_is_refused_naming_zendesks_field(
    mutate: Any, loc: list[Any], says: str
) -> None:
    payload = envelope("created", {})
    mutate(payload)
    with pytest.raises(AdapterError) as caught:
        zendesk.adapt(payload, ctx())
    assert caught.value.errors[0]["loc"] == loc
    assert says in caught.value.errors[0]["msg"]


def test_a_body_of_neither_shape_says_which_shapes_zendesk_sends() -> None:
    with pytest.raises(AdapterError) as caught:
        zendesk.adapt({"hello": "world"}, ctx())
    assert "zen:event-type:ticket" in caught.value.errors[0]["msg"]
    assert '"ticket"' in caught.value.errors[0]["msg"]


def trigger(**ticket: Any) -> dict[str, Any]:
    base = {"id": 35436, "subject": "Invoice", "requester": {"email": "a@acme.example"},
            "created_at": "2025-01-08T10:00:00Z", "updated_at": "2025-01-08T10:00:00Z"}  # fmt: skip
    return {"ticket": base | ticket}


def test_custom_fields_map_to_component_and_other_labels_on_trigger_webhooks() -> None:
    fields = [{"id": 360001234567, "value": "billing_ui"}, {"id": 360007654321, "value": "WX-200"}]
    [out] = zendesk.adapt(trigger(custom_fields=fields, tags=["invoice"]), ctx())
    assert out.event.data["component"] == "billing-ui"  # the field wins over the tag
    assert out.event.data["custom_fields"]["product"] == "WX-200"
    [by_tag] = zendesk.adapt(trigger(tags=["vip", "invoice"]), ctx())
    assert by_tag.event.data["component"] == "invoices"
    [given] = zendesk.adapt(trigger(component="reports", custom_fields=fields), ctx())
    assert given.event.data["component"] == "reports"  # what the payload says wins
    [none] = zendesk.adapt(trigger(), AdapterContext(received_at=NOW))
    assert none.event.data.get("component") is None


def test_a_mapped_value_that_is_no_component_names_the_helpdesk_field() -> None:
    fields = [{"id": 360001234567, "value": "Billing UI!"}]
    with pytest.raises(AdapterError) as caught:
        zendesk.adapt(trigger(custom_fields=fields), ctx())
    assert caught.value.errors[0]["loc"] == ["body", "ticket", "custom_fields", "360001234567"]
    assert "component" in caught.value.errors[0]["msg"]


def test_freshdesk_custom_fields_and_tags_map_too() -> None:
    labels = {"component": LabelRule(custom_field="cf_product_area", tags={"login": "sso"})}
    body: dict[str, Any] = {"id": 88, "subject": "ログインできない", "email": "b@beta.example"}
    body |= {"priority": 3, "status": 2, "tags": ["login"]}
    body["custom_fields"] = {"cf_product_area": "invoices"}
    context = AdapterContext(received_at=NOW, labels=labels)
    assert freshdesk.adapt(body, context)[0].event.data["component"] == "invoices"
    body["custom_fields"] = {"cf_product_area": None}
    assert freshdesk.adapt(body, context)[0].event.data["component"] == "sso"
