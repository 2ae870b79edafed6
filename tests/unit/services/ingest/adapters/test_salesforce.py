"""Salesforce records: opportunity outcomes with loss reasons, tasks with intents, leads."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from schemas import topics
from schemas.events import SALES_NOTE, SalesNote, derived_id
from services.ingest.adapters import salesforce
from services.ingest.adapters.base import AdapterError

from .fixtures import CTX, load


def test_a_lost_opportunity_is_deal_lost_with_a_taxonomy_reason() -> None:
    [out] = salesforce.adapt(load("salesforce_opportunity_lost.json"), CTX)

    assert out.topic == topics.INGEST_SALES
    assert out.key == "crm:0015g00000AbCdEAAZ"
    assert out.event.type == SALES_NOTE
    assert out.event.id == derived_id(
        SALES_NOTE, "/sources/salesforce", "Opportunity", "0065g00000XyZaBAAV", "Closed Lost"
    )
    note = SalesNote.model_validate(out.event.data)
    assert note.intent == "deal_lost"
    assert note.loss_reason == "budget"  # "Price"
    assert note.amount == 125000.0
    assert note.currency == "EUR"
    assert note.due_date == date(2026, 3, 31)
    assert note.rep_email == "rep.one@handoff-demo.com"
    assert note.crm_account_id == "0015g00000AbCdEAAZ"
    assert note.subject == "Acme 株式会社 - 2026 renewal"
    assert note.body == "Customer chose a cheaper offer."
    assert note.created_at is not None
    assert note.created_at.isoformat() == "2026-03-02T09:30:00+01:00"  # "+0100"


def opportunity(**change: Any) -> dict[str, Any]:
    body: dict[str, Any] = load("salesforce_opportunity_lost.json") | change
    return body


@pytest.mark.parametrize(
    ("change", "intent"),
    [
        ({"StageName": "Closed Won", "IsWon": True}, "deal_won"),
        ({"StageName": "Negotiation/Review", "IsClosed": False}, "lead_status_changed"),
    ],
)
def test_other_stages(change: dict[str, Any], intent: str) -> None:
    [out] = salesforce.adapt(opportunity(**change), CTX)
    assert out.event.data["intent"] == intent


def test_an_unknown_loss_reason_is_other_and_a_missing_one_too() -> None:
    [out] = salesforce.adapt(opportunity(Loss_Reason__c="Zombie apocalypse"), CTX)
    assert out.event.data["loss_reason"] == "other"
    del_reason = opportunity()
    del del_reason["Loss_Reason__c"]
    [out] = salesforce.adapt(del_reason, CTX)
    assert out.event.data["loss_reason"] == "other"


def test_the_same_stage_re_sent_is_the_same_event() -> None:
    a = salesforce.adapt(opportunity(LastModifiedDate="2026-03-02T09:30:00.000+0000"), CTX)
    b = salesforce.adapt(opportunity(LastModifiedDate="2026-03-05T09:30:00.000+0000"), CTX)
    assert a[0].event.id == b[0].event.id


def test_a_list_of_records_is_one_event_each_task_and_lead() -> None:
    task, lead = salesforce.adapt(load("salesforce_task_rush.json"), CTX)

    rush = SalesNote.model_validate(task.event.data)
    assert rush.intent == "rush_order"  # "Rush Order"
    assert rush.product_line == "wx-200"  # "WX 200"
    assert rush.quantity == 500  # "500"
    assert rush.due_date == date(2026, 3, 12)
    assert rush.contact_id == "0035g00000ZxCvBAAV"
    assert rush.crm_account_id == "0015g00000AbCdEAAZ"  # from WhatId 001...
    assert task.key == "crm:0015g00000AbCdEAAZ"

    status = SalesNote.model_validate(lead.event.data)
    assert status.intent == "lead_status_changed"
    assert status.lead_status == "mql"
    assert status.lead_id == "00Q5g00000LmNoPAAV"
    assert status.subject == "花子 佐藤 サンプル商事"
    assert lead.key == "sample-shoji.co.jp"


@pytest.mark.parametrize(
    ("payload", "loc", "reason"),
    [
        (
            {"attributes": {"type": "Account"}, "Id": "001"},
            ["body", "attributes", "type"],
            "not handled",
        ),
        (
            {
                "attributes": {"type": "Task"},
                "Id": "00T1",
                "AccountId": "001A",
                "Handoff_Intent__c": "quote_request",
            },
            ["body", "Owner", "Email"],
            "owner",
        ),
        (opportunity(Amount="lots"), ["body", "Amount"], "number"),
        (opportunity(CloseDate="31/03/2026"), ["body", "CloseDate"], "not a date"),
        (
            {
                "attributes": {"type": "Task"},
                "Id": "00T1",
                "Owner": {"Email": "r@x.example"},
                "AccountId": "001A",
                "Handoff_Intent__c": "gossip",
            },
            ["body", "Handoff_Intent__c"],
            "intent",
        ),
        (
            {
                "attributes": {"type": "Lead"},
                "Id": "00Q1",
                "Status": "Nurturing",
                "Owner": {"Email": "r@x.example"},
                "Email": "a@b.example",
            },
            ["body", "Status"],
            "maps to none",
        ),
        ([], ["body"], "empty"),
    ],
)
def test_bad_records_name_the_field(payload: Any, loc: list[Any], reason: str) -> None:
    with pytest.raises(AdapterError, match=reason or None) as caught:
        salesforce.adapt(payload, CTX)
    assert caught.value.errors[0]["loc"] == loc
