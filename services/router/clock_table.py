"""The ``-clocks`` topic's messages and the ``task_ids_to_clocks`` table's values.

Messages (key: task id) are JSON objects with a ``kind``: ``start`` (the
task's clock), ``stop`` (a lifecycle event stopped clocks), ``emitted`` (an
SLA signal was sent), ``reopen``, ``reassign`` and ``forget``; each is one of
``services.core.clock``'s inputs; and ``retime`` (``services.core.retime``: the
task's terms changed, its clocks run to new deadlines).

A table value is an ``OpenClock`` as JSON (``resolved`` and ``closed_at`` say
a clock is ``Closed``), or, for a task whose start has not arrived yet,
``stopped-before-start:`` and the JSON list of the inputs that came first (a
single object in the oldest format). Both are written byte for byte as the
router always wrote them, so a worker recovers what an older one stored.
May import pydantic, schemas and the core; never faust.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from schemas.events import STOPS_ALL_CLOCKS, TASK_REJECTED
from services.core.clock import (
    ClockInput,
    ClockState,
    Closed,
    Early,
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
from services.core.retime import Retime
from services.core.sla import SlaEvent
from services.router.inbound import PoisonMessageError
from services.router.internal import clocks_from_dict, clocks_to_dict, dump, load

EARLY_STOP: Final = "stopped-before-start:"


@dataclass(frozen=True)
class OpenClock(TaskClock):
    """A clocks-table record: a task's clock, and whether (and when) the task was closed."""

    resolved: bool = False
    closed_at: datetime | None = None  # resolved or rejected: kept a while, for a reopen

    @classmethod
    def of(cls, state: Running | Closed) -> OpenClock:
        c = state.clock
        closed = state.at if isinstance(state, Closed) else None
        return cls(
            c.task_id, c.team, c.escalate_to, c.key, c.clocks, c.routed, c.acknowledged,
            c.already, c.generation, resolved=isinstance(state, Closed), closed_at=closed,
        )  # fmt: skip

    def state(self) -> Running | Closed:
        clock = TaskClock(
            self.task_id, self.team, self.escalate_to, self.key, self.clocks, self.routed,
            self.acknowledged, self.already, self.generation,
        )  # fmt: skip
        return Closed(clock, self.closed_at) if self.resolved else Running(clock)

    def due(self, now: datetime) -> tuple[SlaEvent, ...]:
        return () if self.resolved else super().due(now)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "team": self.team,
            "escalate_to": self.escalate_to,
            "key": self.key,
            "clocks": clocks_to_dict(self.clocks),
            "routed": self.routed,
            "acknowledged": self.acknowledged,
            "resolved": self.resolved,
            "already": list(self.already),
            "generation": self.generation,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
        }

    @classmethod
    def from_json(cls, text: str) -> OpenClock:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> OpenClock:
        clocks = clocks_from_dict(body["clocks"])
        assert clocks is not None
        closed_at = body.get("closed_at")
        return cls(
            task_id=body["task_id"],
            team=body["team"],
            escalate_to=body.get("escalate_to"),
            key=body["key"],
            clocks=clocks,
            routed=body["routed"],
            acknowledged=bool(body.get("acknowledged")),
            resolved=bool(body.get("resolved")),
            already=tuple(body.get("already") or ()),
            generation=int(body.get("generation") or 0),
            closed_at=datetime.fromisoformat(closed_at) if closed_at else None,
        )


# --- the table ---------------------------------------------------------------------------


def encode_state(state: ClockState) -> str:
    if isinstance(state, Waiting):
        early = [message_body(e) for e in state.early]
        return EARLY_STOP + json.dumps(early, ensure_ascii=False, separators=(",", ":"))
    return OpenClock.of(state).to_json()


def decode_state(stored: str) -> ClockState:
    if not stored.startswith(EARLY_STOP):
        return OpenClock.from_json(stored).state()
    early = json.loads(stored.removeprefix(EARLY_STOP))
    bodies = early if isinstance(early, list) else [early]
    return Waiting(tuple(_as_early(_input(body)) for body in bodies))


def _as_early(message: ClockInput | None) -> Early:
    assert isinstance(message, Stop | Reassign | Reopen)
    return message


# --- the topic ---------------------------------------------------------------------------


def encode_message(message: ClockInput | Retime) -> bytes:
    return dump(message_body(message))


def decode_message(value: bytes | None) -> ClockInput | Retime | None:
    """A clock input; None for a kind this router does not know (ignored)."""
    body = load(value)
    return _retime(body) if body["kind"] == "retime" else _input(body)


def message_body(message: ClockInput | Retime) -> dict[str, Any]:
    return _BODIES[type(message)](message)


def _retime_body(m: Retime) -> dict[str, Any]:
    clocks = clocks_to_dict(m.clocks)
    return {"kind": "retime", "task_id": m.task_id, "clocks": clocks, "routed": dict(m.routed)}


def _retime(body: Mapping[str, Any]) -> Retime:
    clocks = clocks_from_dict(body.get("clocks"))
    if clocks is None:
        raise PoisonMessageError("a retime message without clocks", "InvalidRouterMessage")
    return Retime(str(body["task_id"]), clocks, body["routed"])


def _start_body(m: Start) -> dict[str, Any]:
    return {"kind": "start", "clock": json.loads(OpenClock.of(Running(m.clock)).to_json())}


def _stop_body(m: Stop) -> dict[str, Any]:
    return {"kind": "stop", "task_id": m.task_id, "type": m.type, "at": m.at.isoformat()}


def _emitted_body(m: Emitted) -> dict[str, Any]:
    return {"kind": "emitted", "task_id": m.task_id, "key": m.key, "generation": m.generation}


def _reopen_body(m: Reopen) -> dict[str, Any]:
    return {
        "kind": "reopen",
        "task_id": m.task_id,
        "message": m.message,
        "at": m.at.isoformat(),
        "event_id": m.event_id,
    }


def _reassign_body(m: Reassign) -> dict[str, Any]:
    return {
        "kind": "reassign",
        "task_id": m.task_id,
        "team": m.team,
        "message": m.message,
        "at": m.at.isoformat(),
        "event_id": m.event_id,
    }


def _forget_body(m: Forget) -> dict[str, Any]:
    return {"kind": "forget", "task_id": m.task_id}


_BODIES: Final[Mapping[type, Callable[[Any], dict[str, Any]]]] = {
    Start: _start_body,
    Stop: _stop_body,
    Emitted: _emitted_body,
    Reopen: _reopen_body,
    Reassign: _reassign_body,
    Forget: _forget_body,
    Retime: _retime_body,
}


def _input(body: Mapping[str, Any]) -> ClockInput | None:
    kind, task_id = body["kind"], body.get("task_id", "")
    if kind == "start":
        return Start(OpenClock.from_dict(body["clock"]).state().clock)
    if kind == "stop":
        return Stop(task_id, body["type"], _at(body), ends=stop_ends(body["type"]))
    if kind == "emitted":
        return Emitted(task_id, body["key"], int(body.get("generation") or 0))
    message = str(body.get("message") or "")
    if kind == "reopen":
        return Reopen(task_id, message, _at(body), str(body["event_id"]))
    if kind == "reassign":
        return Reassign(task_id, str(body["team"]), message, _at(body), str(body["event_id"]))
    return Forget(task_id) if kind == "forget" else None


def _at(body: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(body["at"])


def stop_ends(event_type: str) -> str | None:
    """The state a lifecycle event closes its task in; None if it only acknowledges it."""
    if event_type not in STOPS_ALL_CLOCKS:
        return None
    return "rejected" if event_type == TASK_REJECTED else "resolved"
