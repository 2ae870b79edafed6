"""The router's own topics and tables keep the bytes the router always wrote.

Each value below was written by the router before its messages were typed
(``codec.py``, 8966e9b): the typed messages decode it and encode it back byte
for byte, so a worker restarted on new code recovers what an old one stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.core.clock import (
    Closed,
    Emitted,
    Forget,
    Reassign,
    Reopen,
    Running,
    Start,
    Stop,
    TaskClock,
    Waiting,
)
from services.core.grouping import TaskClosed, TaskDropped, TaskHanded, TaskIndexed
from services.core.sla import SlaClock, SlaClocks
from services.router.clock_table import (
    decode_message,
    decode_state,
    encode_message,
    encode_state,
)
from services.router.internal import (
    decode_account_change,
    decode_group_message,
    encode_change,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CLOCKS = SlaClocks(SlaClock("acknowledge", timedelta(hours=1), T0, T0 + timedelta(hours=1)), None)
ROUTED = {"id": "r1", "data": {"task_id": "t1", "group_key": "g1", "accounts": ["acme"]}}
CLOCK = TaskClock("t1", "l2", None, "acme", CLOCKS, ROUTED)
_DEADLINES = (
    '"clocks": {"acknowledge": {"budget_s": 3600.0, "warn": "2026-11-20T09:00:00+00:00", '
    '"due": "2026-11-20T10:00:00+00:00"}, "resolve": null}'
)
_ROUTED = (
    '"routed": {"id": "r1", "data": {"task_id": "t1", "group_key": "g1", "accounts": ["acme"]}}'
)
CLOSED_VALUE = (
    '{"task_id": "t1", "team": "l2", "escalate_to": "oncall", "key": "acme", '
    f"{_DEADLINES}, {_ROUTED}, "
    '"acknowledged": true, "resolved": true, "already": ["sla.at_risk:acknowledge"], '
    '"generation": 2, "closed_at": "2026-11-20T09:00:00+00:00"}'
)
WAITING_VALUE = (
    'stopped-before-start:[{"kind":"stop","task_id":"t1","type":"task.acknowledged",'
    '"at":"2026-11-20T09:00:00+00:00"},{"kind":"reassign","task_id":"t1","team":"b",'
    '"message":"m","at":"2026-11-20T09:00:00+00:00","event_id":"e"}]'
)
START = (
    b'{"kind":"start","clock":{"task_id":"t1","team":"l2","escalate_to":null,"key":"acme",'
    + _DEADLINES.replace(": ", ":").replace(", ", ",").encode()
    + b","
    + _ROUTED.replace(": ", ":").replace(", ", ",").encode()
    + b',"acknowledged":false,"resolved":false,"already":[],"generation":0,"closed_at":null}}'
)
AT = "2026-11-20T09:00:00+00:00"


@pytest.mark.parametrize(
    ("stored", "state"),
    [
        (
            CLOSED_VALUE,
            Closed(
                TaskClock(
                    "t1",
                    "l2",
                    "oncall",
                    "acme",
                    CLOCKS,
                    ROUTED,
                    True,
                    ("sla.at_risk:acknowledge",),
                    2,
                ),
                T0,
            ),
        ),
        (
            WAITING_VALUE,
            Waiting(
                (
                    Stop("t1", "task.acknowledged", T0),
                    Reassign("t1", "b", "m", T0, "e"),
                )
            ),
        ),
    ],
)
def test_a_clocks_table_value_round_trips(stored: str, state: object) -> None:
    assert decode_state(stored) == state
    assert encode_state(decode_state(stored)) == stored


def test_the_oldest_early_stop_was_a_single_object() -> None:
    stop = {"kind": "stop", "task_id": "t1", "type": "task.acknowledged", "at": AT}
    assert decode_state("stopped-before-start:" + json.dumps(stop)) == Waiting(
        (Stop("t1", "task.acknowledged", T0),)
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (START, Start(CLOCK)),
        (
            b'{"kind":"stop","task_id":"t1","type":"task.rejected","at":"' + AT.encode() + b'"}',
            Stop("t1", "task.rejected", T0, ends="rejected"),
        ),
        (
            b'{"kind":"emitted","task_id":"t1","key":"sla.breached:acknowledge","generation":1}',
            Emitted("t1", "sla.breached:acknowledge", 1),
        ),
        (
            '{"kind":"reopen","task_id":"t1","message":"まだ","at":"'.encode()
            + AT.encode()
            + b'","event_id":"e1"}',
            Reopen("t1", "まだ", T0, "e1"),
        ),
        (
            b'{"kind":"reassign","task_id":"t1","team":"billing","message":"","at":"'
            + AT.encode()
            + b'","event_id":"e2"}',
            Reassign("t1", "billing", "", T0, "e2"),
        ),
        (b'{"kind":"forget","task_id":"t1"}', Forget("t1")),
    ],
)
def test_a_clocks_topic_message_round_trips(value: bytes, message: object) -> None:
    assert decode_message(value) == message
    assert encode_message(decode_message(value)) == value  # type: ignore[arg-type]


def test_running_is_stored_as_an_open_clock() -> None:
    assert json.loads(encode_state(Running(CLOCK)))["resolved"] is False


@pytest.mark.parametrize(
    ("value", "change"),
    [
        (b'{"kind":"reassign","task_id":"t1","team":"billing"}', TaskHanded("t1", "billing")),
        (
            b'{"kind":"close","task_id":"t1","state":"rejected","at":"' + AT.encode() + b'"}',
            TaskClosed("t1", "rejected", T0),
        ),
    ],
)
def test_a_groups_topic_change_round_trips(value: bytes, change: object) -> None:
    assert decode_group_message(value) == change
    assert encode_change(change) == value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "change"),
    [
        (
            b'{"kind":"add","task_id":"t1","team":"l2","state":"reopened"}',
            TaskIndexed("t1", "l2", "reopened"),
        ),
        (b'{"kind":"close","task_id":"t1"}', TaskDropped("t1")),
        (b'{"kind":"reassign","task_id":"t1","team":"billing"}', TaskHanded("t1", "billing")),
    ],
)
def test_an_accounts_topic_change_round_trips(value: bytes, change: object) -> None:
    assert decode_account_change(value) == change
    assert encode_change(change) == value  # type: ignore[arg-type]


def test_a_kind_this_router_does_not_know_is_ignored() -> None:
    assert decode_message(b'{"kind":"rewind","task_id":"t1"}') is None
    assert decode_account_change(b'{"kind":"rewind","task_id":"t1"}') is None
