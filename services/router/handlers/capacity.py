"""Line capacity (story 2): the plants' figures, and rush orders checked, held and answered."""

from __future__ import annotations

import json
from datetime import date, datetime

from schemas import topics
from schemas.events import derived_id
from services.core.capacity import (
    LineCapacity,
    RushAnswer,
    RushOrder,
    answer_rush_order,
    apply_update,
)
from services.router.batch import Send
from services.router.handlers.base import IGNORED, Context, dumps
from services.router.inbound import PoisonMessageError, decode_capacity
from services.router.internal import (
    DecisionMessage,
    decode_decision,
    encode_decision,
    load,
    with_feasibility,
)
from services.router.outbound import answered_task, feasible_answer
from services.router.pipeline import Handled, Write

ANSWERED = "answered"


class CapacityHandlers:
    def __init__(self, context: Context) -> None:
        self.context = context

    def track_line_capacity(self, key: bytes | None, value: bytes | None) -> Handled:
        update = decode_capacity(value)
        state = self._line(update.line)
        write = (
            self.context.tables.lines,
            update.line,
            dumps(apply_update(state, update).to_dict()),
        )
        self.context.metrics.capacity_updates.inc()
        return Handled(IGNORED, writes=[write])

    def check_rush_order(self, key: bytes | None, value: bytes | None) -> Handled:
        """Check, hold and answer in one step per line (this partition owns the line)."""
        message = decode_decision(load(value))
        order = rush_order(message)
        now = self.context.clock()
        hold_expiry = self.context.rules.current.hold_expiry
        state, answer = answer_rush_order(
            self._line(order.line), order, now=now, hold_expiry=hold_expiry
        )
        writes: list[Write] = []
        if answer.placed is not None and state is not None:
            writes.append((self.context.tables.lines, order.line, dumps(state.to_dict())))
        self.context.metrics.capacity_checks.labels(_checked(answer)).inc()
        if answer.feasible and answer.earliest is not None:
            self._count_answer(message, now)
            return Handled(ANSWERED, _answer(message, answer.earliest, now), writes)
        planning = encode_decision(with_feasibility(message, answer.earliest))
        group = message.decision.group_key.encode("utf-8")
        return Handled(IGNORED, [(self.context.names.groups, group, planning)], writes)

    def _count_answer(self, message: DecisionMessage, now: datetime) -> None:
        """The asker's wait for the router's own answer, apart from people's answers."""
        decision, waited = message.decision, (now - message.event.time).total_seconds()
        self.context.metrics.answered(decision.team, decision.department or "unknown", waited)

    def _line(self, line: str) -> LineCapacity | None:
        stored = self.context.tables.lines.get(line)
        return LineCapacity.from_dict(json.loads(stored)) if stored else None


def _checked(answer: RushAnswer) -> str:
    return "feasible" if answer.feasible else "infeasible"


def _answer(message: DecisionMessage, earliest: date, now: datetime) -> list[Send]:
    """The answer to sales on ``handoff.feedback``, and the task it resolves at once."""
    answered = feasible_answer(message, earliest, at=now)
    task, key = answered_task(message, answered), message.account.encode("utf-8")
    return [(topics.FEEDBACK, key, answered.to_bytes()), (topics.ROUTED, key, task.to_bytes())]


def capacity_line(message: DecisionMessage) -> str | None:
    """The line a decision must be checked against first; None: route it as it is."""
    spec = message.decision.capacity
    if spec is None or message.earliest_feasible is not None:
        return None
    return message.labels.get(spec.line_label) or None


def rush_order(message: DecisionMessage) -> RushOrder:
    line = capacity_line(message)
    assert line is not None
    quantity, due = _order(message)
    hold_id = derived_id("hold", message.event.id, message.decision.route_id)
    return RushOrder(hold_id, line, quantity, due, message.task_id)


def _order(message: DecisionMessage) -> tuple[int, date]:
    spec = message.decision.capacity
    assert spec is not None
    try:
        quantity = int(message.labels[spec.quantity_label])
        due = date.fromisoformat(message.labels[spec.due_label])
    except (KeyError, ValueError) as exc:
        raise PoisonMessageError(
            f"a capacity-checked request needs {spec.quantity_label} and {spec.due_label}: {exc}",
            "InvalidCapacityRequest",
        ) from exc
    return quantity, due
