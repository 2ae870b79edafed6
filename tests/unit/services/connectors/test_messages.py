"""What trackers and chat say: updates only for real changes; Slack and Teams bodies valid
against the published schemas (subsets, tests/vendors/chat.py) in Japanese and English."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema_rs
import pytest

from schemas.events import SLA_BREACHED, Priority, SlaSignal, TaskRouted
from services.connectors.base import IssueRef
from services.connectors.content import changes, issue_draft, snapshot
from services.connectors.jira import adf
from services.connectors.notices import sla_notice, task_notice
from services.connectors.slack import blocks
from services.connectors.teams import card
from tests.vendors.chat import BLOCK_KIT, TEAMS_MESSAGE
from tests.vendors.jira import ADF_DEFS, ADF_DOC

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_task(**changes_: Any) -> TaskRouted:
    return TaskRouted(
        task_id="t-1",
        source_event_id="e-1",
        source="/sources/zendesk",
        team="billing-ui",
        rule="component:billing-ui",
        account="example.co.jp",
        priority=Priority.HIGH,
        component="billing-ui",
        subject="請求書の画面 <わかりにくい> & 遅い",
        description="説明\n\n二段落目",
        requester_email="taro@example.co.jp",
        raised_at=AT,
        routed_at=AT,
        sla_due=AT,
        acknowledge_by=AT + timedelta(hours=4),
        resolve_by=AT + timedelta(hours=24),
    ).model_copy(update=changes_)


def test_a_redelivery_changes_nothing_and_real_changes_are_each_a_line() -> None:
    task = make_task()
    assert changes(snapshot(task), task, "en") == []
    moved = make_task(
        priority=Priority.URGENT, event_count=3, acknowledge_by=AT + timedelta(hours=1)
    )
    assert changes(snapshot(task), moved, "en") == [
        "3 requests now (was 1)",
        "Priority high → urgent",
        "Acknowledge by: 2026-03-02 13:00 UTC → 2026-03-02 10:00 UTC",
    ]


def test_the_issue_carries_the_marker_and_a_searchable_label() -> None:
    draft = issue_draft(make_task(), "ja", "https://handoff.example.co.jp")
    assert draft.body.endswith("handoff-task: t-1")
    assert "ダッシュボード: https://handoff.example.co.jp/dashboard/tasks/t-1" in draft.body
    assert "handoff-task-t-1" in draft.labels
    assert draft.due == (AT + timedelta(hours=24)).date()


def test_the_description_is_a_valid_adf_document() -> None:
    document = adf(issue_draft(make_task(), "ja", None).body)
    validator = jsonschema_rs.validator_for({**ADF_DOC, "$defs": ADF_DEFS})
    assert [str(e) for e in validator.iter_errors(document)] == []


@pytest.mark.parametrize("language", ["ja", "en"])
def test_chat_messages_validate_as_block_kit_and_adaptive_cards(language: str) -> None:
    signal = SlaSignal(task_id="t-1", team="billing-ui", clock="resolve", due=AT)
    notices = [
        task_notice(make_task(), language, "https://handoff.example.co.jp"),
        task_notice(make_task(escalated_from="billing-ui", team="eng-oncall"), language, None),
        sla_notice(
            signal,
            SLA_BREACHED,
            "請求書の画面",
            IssueRef("BILL-7", "https://acme.atlassian.net/browse/BILL-7"),
            language,
            None,
        ),
    ]
    for notice in notices:
        assert [
            str(e) for e in jsonschema_rs.validator_for(BLOCK_KIT).iter_errors(blocks(notice))
        ] == []
        assert [
            str(e) for e in jsonschema_rs.validator_for(TEAMS_MESSAGE).iter_errors(card(notice))
        ] == []
    assert "SLA超過" in notices[2].title if language == "ja" else "SLA breached" in notices[2].title


def test_slack_text_is_escaped_as_slack_asks() -> None:
    section = blocks(task_notice(make_task(), "ja", None))["blocks"][1]
    assert section["text"]["text"] == "請求書の画面 &lt;わかりにくい&gt; &amp; 遅い"
