"""Capacity (story 2): the plants' figures, rush orders checked, held and answered, and
holds released when their deal is lost or they expire.

Every capacity message travels on ``<app>-capacity`` under one key (``CAPACITY_KEY``),
so one worker owns the whole book (``services.core.orders``) and checks and holds
across every line that makes a product one event at a time: plants' updates
(forwarded from ``handoff.ingest.capacity``), capacity-checked decisions, deal
outcomes that release holds, and the timer's ``expire_holds``. The book lives under
one key of ``lines_to_capacity``.

Every answer goes to the API on ``handoff.routed`` as a ``task.routed``: a promise
(``held``) or a refusal (an unknown product, a past due date) answered at once, or
planning work (``planning``) through the groups as before. The API turns each into
a callback to the rep's tool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Final

from pydantic import ValidationError

from schemas import topics
from schemas.events import (
    PRODUCTION_CAPACITY,
    SALES_NOTE,
    TASK_FEEDBACK,
    CloudEvent,
    ProductionCapacity,
    TaskFeedback,
    TaskRouted,
    TaskState,
    derived_id,
    envelope,
)
from schemas.orders import (
    HOLD_RELEASED,
    HeldUnits,
    HoldReleased,
    LineRef,
    PlanningRequest,
    Refusal,
    Shortfall,
)
from services.core.capacity import CapacityUpdate, LineCapacity, Rejected
from services.core.departments import asking_department
from services.core.holds import Hold
from services.core.orders import (
    Planning,
    Promised,
    RushOrder,
    answer_rush_order,
    apply_to_book,
    book_from_dict,
    book_to_dict,
    expire_book,
    next_expiry,
    release_deal,
)
from services.router.batch import Send
from services.router.handlers.base import IGNORED, Context, dumps
from services.router.inbound import PoisonMessageError, decode_cloud_event
from services.router.internal import DecisionMessage, decode_decision, dump, encode_decision, load
from services.router.outbound import answered_task
from services.router.pipeline import Handled, Write

ANSWERED: Final = "answered"
CAPACITY_KEY: Final = "capacity"  # the one key every capacity message travels under
BOOK: Final = "book"  # the one key of the capacity table
SOURCE: Final = "/handoff/router"
LOST_INTENTS: Final = {"deal_lost": "deal_lost"}
CANCELLED_STAGES: Final = ("cancel", "キャンセル")


class CapacityHandlers:
    def __init__(self, context: Context) -> None:
        self.context = context
        self._cued: datetime | None = None  # the expiry the timer last cued
        self._expiry: tuple[str | None, datetime | None] = (None, None)  # (book, next expiry)

    def track_line_capacity(self, key: bytes | None, value: bytes | None) -> Handled:
        """A plant's update, checked here, joins the rush orders under the one key."""
        decode_update(value)
        assert value is not None
        message = dump({"kind": "capacity", "event": json.loads(value)})
        return Handled(IGNORED, [(self.context.names.capacity, CAPACITY_KEY.encode(), message)])

    def check_rush_order(self, key: bytes | None, value: bytes | None) -> Handled:
        """One capacity message: an update, a rush order, a deal outcome or the timer's cue."""
        body = load(value)
        kind = body["kind"]
        if kind == "capacity":
            return self._apply(decode_update(json.dumps(body["event"]).encode()))
        if kind == "release":
            return self._release(body)
        if kind == "expire_holds":
            return self._expire()
        return self._order(decode_decision(body))

    # --- the book

    def book(self) -> dict[str, LineCapacity]:
        stored = self.context.tables.lines.get(BOOK)
        return book_from_dict(json.loads(stored)) if stored else {}

    def _write(self, book: Mapping[str, LineCapacity]) -> Write:
        return (self.context.tables.lines, BOOK, dumps(book_to_dict(book)))

    def _apply(self, update: CapacityUpdate) -> Handled:
        self.context.metrics.capacity_updates.inc()
        return Handled(IGNORED, writes=[self._write(apply_to_book(self.book(), update))])

    def _release(self, body: Mapping[str, Any]) -> Handled:
        book, gone = release_deal(self.book(), str(body["opportunity_id"]))
        reason = str(body.get("reason") or "deal_lost")
        sends = [released_event(line, hold, reason, self.context.clock()) for line, hold in gone]
        return Handled(IGNORED, sends, [self._write(book)] if gone else [])

    def _expire(self) -> Handled:
        now = self.context.clock()
        book, gone = expire_book(self.book(), now)
        sends = [released_event(line, hold, "expired", now) for line, hold in gone]
        return Handled(IGNORED, sends, [self._write(book)] if gone else [])

    # --- rush orders

    def _order(self, message: DecisionMessage) -> Handled:
        """Check, hold and answer in one step (this partition owns the whole book)."""
        now, rules = self.context.clock(), self.context.rules.current
        book = self.book()
        new, answer = answer_rush_order(
            book, rush_order(message), now=now, hold_expiry=rules.hold_expiry
        )
        self.context.metrics.capacity_checks.labels(_checked(answer)).inc()
        if isinstance(answer, Planning):
            return Handled(IGNORED, [self._planning(message, answer, now)])
        self._count_answer(message, now)
        writes = [self._write(new)] if new != book else []
        return Handled(ANSWERED, _answer(message, answer, now), writes)

    def _planning(self, message: DecisionMessage, answer: Planning, now: datetime) -> Send:
        planned = planning_request(message, answer)
        decision = replace(message, earliest_feasible=answer.earliest_feasible, planning=planned)
        group = message.decision.group_key.encode("utf-8")
        return (self.context.names.groups, group, encode_decision(decision))

    def _count_answer(self, message: DecisionMessage, now: datetime) -> None:
        """The asker's wait for the router's own answer, apart from people's answers,
        labelled with the asking department (the request's source's), not the team's."""
        waited = (now - message.event.time).total_seconds()
        asking = asking_department(message.event.source)
        self.context.metrics.answered(message.decision.team, asking, waited)

    # --- the timer's cue

    def expiry_sends(self, now: datetime) -> list[Send]:
        """The timer's hook: ``expire_holds`` once per expiry come due in the book this
        worker holds (the capacity agent then releases them, each as an event)."""
        stored = self.context.tables.lines.get(BOOK)
        if stored is None:
            return []
        if self._expiry[0] != stored:  # parse the book once per change, not every second
            self._expiry = (stored, next_expiry(book_from_dict(json.loads(stored))))
        due = self._expiry[1]
        if due is None or due > now or due == self._cued:
            return []
        self._cued = due
        body = dump({"kind": "expire_holds", "due": due.isoformat()})
        return [(self.context.names.capacity, CAPACITY_KEY.encode(), body)]

    def release_sends(self, event: CloudEvent) -> list[Send]:
        """A lost or cancelled deal's note releases its holds (intake's hook)."""
        body = release_body(event)
        return [] if body is None else [(self.context.names.capacity, CAPACITY_KEY.encode(), body)]


def decode_update(value: bytes | None) -> CapacityUpdate:
    """A ``production.capacity`` as the core reads it; what cannot be read is poison.

    An update naming no products and no product family (an older plant's) is read
    as a line that makes the product named like the line, as rush orders once did.
    """
    event = decode_cloud_event(value)
    if event.type != PRODUCTION_CAPACITY:
        raise PoisonMessageError(f"not a {PRODUCTION_CAPACITY}: {event.type}", "UnexpectedType")
    try:
        data = ProductionCapacity.model_validate(event.data)
    except ValidationError as exc:
        reason = "; ".join(f"data.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PoisonMessageError(
            f"invalid production.capacity data: {reason}", "InvalidProductionCapacity"
        ) from exc
    products = set(data.products) or ({data.product_family or data.line})
    return CapacityUpdate(
        line=data.line,
        as_of=data.as_of,
        free={day.date: day.units for day in data.free},
        plant=data.plant,
        product_family=data.product_family,
        net_of=frozenset(data.net_of),
        products=frozenset(products),
    )


def release_body(event: CloudEvent) -> bytes | None:
    """The ``release`` message for a lost or cancelled deal's note (None: not one)."""
    data = event.data
    opportunity = data.get("opportunity_id")
    if event.type != SALES_NOTE or not isinstance(opportunity, str) or not opportunity:
        return None
    stage = str(data.get("stage") or "").lower()
    if data.get("intent") == "deal_lost":
        reason = "deal_cancelled" if any(s in stage for s in CANCELLED_STAGES) else "deal_lost"
    elif any(s in stage for s in CANCELLED_STAGES):
        reason = "deal_cancelled"
    else:
        return None
    return dump({"kind": "release", "opportunity_id": opportunity, "reason": reason})


def released_event(line: LineCapacity, hold: Hold, reason: str, at: datetime) -> Send:
    """``capacity.hold_released`` on ``handoff.routed`` (the API shows holds per line)."""
    plant, _, name = line.line.rpartition("/")
    data = HoldReleased(
        hold_id=hold.hold_id,
        task_id=hold.task_id,
        plant=plant or line.plant or "-",
        line=name,
        units=hold.units,
        reason=reason,  # type: ignore[arg-type]
        opportunity_id=hold.opportunity_id,
        released_at=at,
    )
    event = envelope(
        type_=HOLD_RELEASED,
        source=SOURCE,
        data=data,
        time=at,
        event_id=derived_id(HOLD_RELEASED, hold.hold_id),
        subject=hold.task_id,
    )
    return (topics.ROUTED, hold.task_id.encode(), event.to_bytes())


def capacity_line(message: DecisionMessage) -> str | None:
    """The key a decision is checked under first (the one capacity key); None: route it."""
    spec = message.decision.capacity
    if spec is None or message.planning is not None or message.earliest_feasible is not None:
        return None
    return CAPACITY_KEY


def rush_order(message: DecisionMessage) -> RushOrder:
    """The order a decision's labels name: product (the line label), quantity, due, plant."""
    spec = message.decision.capacity
    assert spec is not None
    try:
        product = message.labels[spec.line_label].strip().lower()
        quantity = int(message.labels[spec.quantity_label])
        due = date.fromisoformat(message.labels[spec.due_label])
    except (KeyError, ValueError) as exc:
        raise PoisonMessageError(
            f"a capacity-checked request needs {spec.line_label}, {spec.quantity_label} "
            f"and {spec.due_label}: {exc}",
            "InvalidCapacityRequest",
        ) from exc
    hold_id = derived_id("hold", message.event.id, message.decision.route_id)
    labels = message.labels
    return RushOrder(
        hold_id,
        product,
        quantity,
        due,
        message.task_id,
        plant=labels.get("plant") or None,
        opportunity_id=labels.get("opportunity_id") or None,
    )


def planning_request(message: DecisionMessage, answer: Planning) -> dict[str, Any]:
    order = rush_order(message)
    request = PlanningRequest(
        product=order.product,
        quantity=order.quantity,
        due_date=order.due,
        plant=order.plant,
        candidates=[_line_ref(line) for line in answer.candidates],
        shortfall=[Shortfall(date=d, units=u) for d, u in answer.shortfall.items()],
        earliest_feasible=answer.earliest_feasible,
        opportunity_id=order.opportunity_id,
        locale=_locale(message),
    )
    return request.model_dump(mode="json")


def _line_ref(line: LineCapacity) -> LineRef:
    plant, _, name = line.line.rpartition("/")
    return LineRef(plant=plant or line.plant or "-", line=name)


def _locale(message: DecisionMessage) -> Any:
    locale = message.labels.get("locale")
    return locale if locale in ("ja", "en") else None


def _checked(answer: Promised | Planning | Rejected) -> str:
    if isinstance(answer, Promised):
        return "feasible"
    return "infeasible" if isinstance(answer, Planning) else "refused"


def _answer(message: DecisionMessage, answer: Promised | Rejected, now: datetime) -> list[Send]:
    """The answer on ``handoff.feedback``, and the task it resolves at once (to the API)."""
    answered = answer_event(message, answer, now)
    task = answered_task(message, answered)
    data = TaskRouted.model_validate(task.data).model_copy(update=_order_fields(message, answer))
    task = task.model_copy(update={"data": data.model_dump(mode="json")})
    key = message.account.encode("utf-8")
    return [(topics.FEEDBACK, key, answered.to_bytes()), (topics.ROUTED, key, task.to_bytes())]


def answer_event(message: DecisionMessage, answer: Promised | Rejected, at: datetime) -> CloudEvent:
    """``task.feedback``: the units held (resolved), or why it cannot be checked (rejected)."""
    if isinstance(answer, Promised):
        hold = answer.hold
        text = (
            f"feasible: {hold.units} units on line {answer.line.line} by "
            f"{answer.earliest.isoformat()}, held until {hold.expires_at.isoformat()}"
        )
        status = TaskState.RESOLVED
    else:
        text, status = f"not checked: {answer.reason}", TaskState.REJECTED
    data = TaskFeedback(
        task_id=message.task_id,
        source_event_id=message.event.id,
        source=message.event.source,
        team=message.decision.team,
        status=status,
        message=text,
        raised_at=message.event.time,
        answered_at=at,
    )
    event_id = derived_id(TASK_FEEDBACK, message.task_id)
    return envelope(
        type_=TASK_FEEDBACK, source=SOURCE, data=data, time=at, event_id=event_id,
        subject=message.task_id,
    )  # fmt: skip


def _order_fields(message: DecisionMessage, answer: Promised | Rejected) -> dict[str, Any]:
    fields: dict[str, Any] = {"locale": _locale(message)}
    if isinstance(answer, Promised):
        plant, _, name = answer.line.line.rpartition("/")
        fields["held"] = HeldUnits(
            hold_id=answer.hold.hold_id,
            plant=plant or "-",
            line=name,
            units=answer.hold.units,
            ready_by=answer.earliest,
            expires_at=answer.hold.expires_at,
        )
    else:
        order = rush_order(message)
        fields["refused"] = Refusal(
            code=answer.code.value,  # type: ignore[arg-type]
            reason=answer.reason,
            product=order.product,
            quantity=order.quantity,
            due_date=order.due,
            plant=order.plant,
        )
    return fields
