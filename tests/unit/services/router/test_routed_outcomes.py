"""A deal outcome's ``task.routed`` carries what the CRM said (issue 11, item 5).

The sales note is what the Salesforce adapter makes of a lost Opportunity whose rep wrote
``納期が合わない`` (mapped to ``other``): the team topic's record keeps the intent, stage,
amount, currency, loss reason and the rep's words; an outcome without a rep is routed.
"""

from __future__ import annotations

import json
from typing import Any

from schemas.events import TaskRouted
from services.core.grouping import GroupedTask, GroupEvent
from services.router.inbound import decode_incoming
from services.router.internal import decision_messages
from services.router.outbound import routed_event
from tests.unit.services.router.test_codec import RULES, T0, make_event

LOST = {
    "note_id": "0065g00000Qm1ZxAAJ", "intent": "deal_lost", "subject": "アクメ精機 追加発注",
    "crm_account_id": "0015g00000XyZ12AAB", "amount": 1250000.0, "currency": "JPY",
    "loss_reason": "other", "loss_reason_text": "納期が合わない", "stage": "Closed Lost",
    "opportunity_id": "0065g00000Qm1ZxAAJ", "lead_source": "Trade Show",
}  # fmt: skip


def routed(data: dict[str, Any]) -> TaskRouted:
    raw = json.loads(make_event("sales.note"))
    raw["data"] = data
    incoming = decode_incoming(json.dumps(raw).encode(), "sales.note")
    (message,) = decision_messages(incoming, RULES.decide(incoming.labels, T0), rules_version="v")
    task = GroupedTask.open(message.task_id, "g", GroupEvent("ev-1", incoming.account, None, T0))
    return TaskRouted.model_validate(routed_event(message, task, routed_at=T0, event_id="r").data)


def test_a_lost_deal_keeps_the_reps_words_on_the_team_topic() -> None:
    task = routed(LOST)
    assert task.outcome is not None
    assert task.outcome.intent == "deal_lost"
    assert (task.outcome.loss_reason, task.outcome.loss_reason_text) == ("other", "納期が合わない")
    assert (task.outcome.amount, task.outcome.currency) == (1250000.0, "JPY")
    assert task.outcome.stage == "Closed Lost"
    assert task.account == "crm:0015g00000XyZ12AAB"
    assert task.requester_email == ""  # no rep: an outcome asks nothing


def test_a_ticket_has_no_outcome() -> None:
    incoming = decode_incoming(make_event(), "support.ticket")
    (message,) = decision_messages(incoming, RULES.decide(incoming.labels, T0), rules_version="v")
    task = GroupedTask.open(message.task_id, "g", GroupEvent("ev-1", "a", None, T0))
    routed_task = routed_event(message, task, routed_at=T0, event_id="r")
    assert TaskRouted.model_validate(routed_task.data).outcome is None
