"""Intake: support tickets and sales notes in, one routing decision per team out.

A decision goes to the group it belongs to (``-groups``, keyed by group key),
or first to its production line (``-capacity``) when the route checks
capacity. A ticket update is not a new request: it is passed on as it came.
"""

from __future__ import annotations

from typing import Final

from schemas import topics
from schemas.events import SALES_NOTE, SUPPORT_TICKET, SUPPORT_TICKET_UPDATED, RelatedTask
from services.core.grouping import AccountIndex, related
from services.core.routing import RoutingRules
from services.router import metrics as outcomes
from services.router.account_links import read_entry
from services.router.batch import Send
from services.router.handlers import requests
from services.router.handlers.base import Context
from services.router.handlers.capacity import CapacityHandlers, capacity_line
from services.router.inbound import (
    Incoming,
    check_ticket_update,
    decode_cloud_event,
    decode_incoming,
    incoming_of,
)
from services.router.internal import DecisionMessage, decision_messages, encode_decision
from services.router.pipeline import Handled

RELATED_MAX: Final = 20  # an account's open tasks a task.routed names


class IntakeHandlers:
    def __init__(self, context: Context) -> None:
        self.context = context

    def route_support_ticket(self, key: bytes | None, value: bytes | None) -> Handled:
        cloud = decode_cloud_event(value)
        if cloud.type != SUPPORT_TICKET_UPDATED:
            return self._route(incoming_of(cloud, SUPPORT_TICKET))
        check_ticket_update(cloud)
        assert value is not None
        # on handoff.routed, where the API finds the task by the ticket's event id
        return Handled(outcomes.FORWARDED, [(topics.ROUTED, key, value)])

    def route_sales_note(self, key: bytes | None, value: bytes | None) -> Handled:
        incoming = decode_incoming(value, SALES_NOTE)
        handled = self._route(incoming)
        released = CapacityHandlers(self.context).release_sends(incoming.event)  # a lost deal
        return handled._replace(sends=[*handled.sends, *released]) if released else handled

    def _route(self, incoming: Incoming) -> Handled:
        rules = self.context.rules.current
        decisions = rules.decide(incoming.labels, incoming.event.sla_start)
        index = self.context.tables.accounts.get(incoming.account)
        others = related_tasks(index, incoming.account, rules) if index else ()
        messages = decision_messages(
            incoming, decisions, rules_version=rules.version, related=others
        )
        table, event_id = self.context.tables.requests, incoming.event.id
        first = requests.seen(table, incoming.account, event_id)
        if first is not None:  # come again (an update): to the groups it went to, once
            messages, writes = requests.to_first_groups(messages, first), []
        else:
            writes = [requests.remember(table, incoming.account, event_id, messages)]
        return Handled(outcomes.ROUTED, [self._decision(message) for message in messages], writes)

    def _decision(self, message: DecisionMessage) -> Send:
        line = capacity_line(message)
        if line is not None:
            return (self.context.names.capacity, line.encode(), encode_decision(message))
        group = message.decision.group_key.encode("utf-8")
        return (self.context.names.groups, group, encode_decision(message))


def related_tasks(stored: str, account: str, rules: RoutingRules) -> tuple[RelatedTask, ...]:
    """The account's other open tasks, the ``RELATED_MAX`` most recent (oldest first): its
    own and those of the accounts linked with it (``account_links`` mirrors them into its
    table entry)."""
    index = read_entry(stored).index
    found = related(index or AccountIndex(), account, RELATED_MAX)
    return tuple(
        RelatedTask(
            task_id=t.task_id,
            team=t.team,
            department=rules.teams[t.team].department if t.team in rules.teams else None,
            state=t.state,
        )
        for t in found
    )
