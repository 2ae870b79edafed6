"""Requests already routed, per account: a request that comes again updates its own task.

A helpdesk sends the whole ticket again with every change (the same event
id, ``services.ingest.adapters.helpdesk``), and a change can alter its labels:
a priority change picks another child route, a trigger's payload may leave a
field out. Re-routed as new, the ticket would reach another group -- another
team's, under the same task id -- and split the truth. So the intake keeps, per
account (the key its stream and this table share), the groups each recent
request went to; a request that comes again is sent to those groups only,
marked ``again``: there it can change its task's terms (a new priority and
SLA, re-evaluated once) but never open or join a task.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from services.router.handlers.base import Table, dumps
from services.router.internal import DecisionMessage
from services.router.pipeline import Write

REQUESTS_KEPT: Final = 500  # per account, the most recent
Groups = list[tuple[str, str]]  # (group key, team) per decision, in decision order


def seen(table: Table, account: str, event_id: str) -> Groups | None:
    """The groups the request went to when it was first routed (None: it was not)."""
    listed = _load(table, account).get(event_id)
    return [(str(key), str(team)) for key, team in listed] if listed else None


def remember(
    table: Table, account: str, event_id: str, messages: Sequence[DecisionMessage]
) -> Write:
    """The table write that keeps the request's groups (the oldest requests make room)."""
    requests = _load(table, account)
    requests[event_id] = [[m.decision.group_key, m.decision.team] for m in messages]
    kept = dict(list(requests.items())[-REQUESTS_KEPT:])
    return (table, account, dumps(kept))


def to_first_groups(messages: Sequence[DecisionMessage], groups: Groups) -> list[DecisionMessage]:
    """The re-evaluated decisions, each sent to the group (and team) it first went to; a
    decision the request did not have then is dropped, a capacity check goes as it is."""
    return [_to(message, key, team) for message, (key, team) in zip(messages, groups, strict=False)]


def _to(message: DecisionMessage, key: str, team: str) -> DecisionMessage:
    if message.decision.capacity is not None:
        return message
    decision = replace(message.decision, group_key=key, team=team)
    return replace(message, decision=decision, again=True)


def _load(table: Table, account: str) -> dict[str, list[list[str]]]:
    stored = table.get(account)
    return dict(json.loads(stored)) if stored else {}
