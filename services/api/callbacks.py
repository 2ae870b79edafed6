"""The answer goes back: signed webhooks to the origin, retried, logged, dead-lettered.

A state change schedules a :class:`~services.api.db.Delivery` row in the same
transaction as the change (so nothing owed is lost); the :class:`Deliverer`
thread posts due deliveries, logs every attempt, backs off exponentially with
jitter, and parks a delivery on the dead-letter topic after the last attempt.
The delivery id is the idempotency key the origin sees on every attempt.

Several API processes may deliver from one database: each attempt is claimed
first by a conditional update that counts it and leases the row (moves
``next_attempt_at`` past the attempt's longest run), so one process posts it;
if that process dies, the lease runs out and another one retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import quote

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from schemas import topics
from schemas.dlq import DeadLetter
from schemas.events import derived_id
from services.api.clock import Clock, utc_now
from services.api.db import Callback, Delivery, DeliveryAttempt, Task, TaskOrigin, origins_of
from services.api.metrics import ApiMetrics
from services.api.producer import PublishError

log = logging.getLogger(__name__)

CallbackFormat = Literal["generic", "zendesk", "freshdesk"]
PENDING: Final = "pending"
DELIVERED: Final = "delivered"
DEAD: Final = "dead"
SIGNATURE_HEADER: Final = "X-Handoff-Signature"
TIMESTAMP_HEADER: Final = "X-Handoff-Timestamp"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"

ZENDESK_STATUS: Final = {
    "open": "open",
    "acknowledged": "open",
    "in_progress": "open",
    "reassigned": "open",
    "reopened": "open",
    "resolved": "solved",
    "rejected": "solved",
}
# Freshdesk: 2 open, 3 pending, 4 resolved, 5 closed.
FRESHDESK_STATUS: Final = {
    "open": 2,
    "acknowledged": 2,
    "in_progress": 3,
    "reassigned": 2,
    "reopened": 2,
    "resolved": 4,
    "rejected": 5,
}
PUBLIC_STATES: Final = frozenset({"resolved", "rejected"})


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, ``"<timestamp>." + body``)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body), header)


@dataclass(frozen=True)
class Origin:
    """One request grouped into a task: the answer goes back to it."""

    event_id: str
    source: str
    ref: str | None  # its id in the origin system, e.g. the Zendesk ticket id
    raised_at: datetime


TICKET_PLACEHOLDERS: Final = ("{ticket_id}", "%7Bticket_id%7D", "%7bticket_id%7d")


def delivery_url(template: str, origin: Origin) -> str:
    """The callback URL for one origin: ``{ticket_id}`` becomes its ref (else its event id)."""
    value = quote(origin.ref or origin.event_id, safe="")
    for placeholder in TICKET_PLACEHOLDERS:
        template = template.replace(placeholder, value)
    return template


def callback_body(
    fmt: str,
    *,
    delivery_id: str,
    task: Task,
    state: str,
    message: str,
    changed_at: datetime,
    origin: Origin | None = None,
    event_type: str | None = None,
    public: bool | None = None,
) -> dict[str, Any]:
    """The update in the origin's own shape (Zendesk, Freshdesk) or handoff's generic one.

    A closing state is a public reply; anything else (a comment, a start) is
    an internal note unless ``public`` says otherwise.
    """
    origin = origin or Origin(task.source_event_id, task.source, None, task.raised_at)
    public = state in PUBLIC_STATES if public is None else public
    text = message or f"handoff: the {task.team} team set this request to {state}."
    if fmt == "zendesk":
        ticket: dict[str, Any] = {
            "status": ZENDESK_STATUS[state],
            "comment": {"body": text, "public": public},
            "external_id": origin.event_id,
        }
        if origin.ref:
            ticket = {"id": int(origin.ref) if origin.ref.isdigit() else origin.ref, **ticket}
        return {"ticket": ticket}
    if fmt == "freshdesk":
        return {"status": FRESHDESK_STATUS[state], "body": text, "private": not public}
    return {
        "delivery_id": delivery_id,
        "task_id": task.task_id,
        "event": event_type,
        "source_event_id": origin.event_id,
        "origin": {"event_id": origin.event_id, "source": origin.source, "ref": origin.ref},
        "state": state,
        "team": task.team,
        "message": message,
        "public": public,
        "raised_at": origin.raised_at.isoformat(),
        "changed_at": changed_at.isoformat(),
    }


def task_origins(session: Session, task: Task) -> list[Origin]:
    """Every request grouped into the task, oldest first (its first event when none is recorded)."""
    rows = session.scalars(origins_of(task.task_id)).all()
    if not rows:
        return [Origin(task.source_event_id, task.source, None, task.raised_at)]
    return [Origin(r.event_id, r.source, r.ref, r.raised_at) for r in rows]


def schedule_delivery(
    session: Session,
    task: Task,
    *,
    event_id: str,
    state: str,
    message: str,
    now: datetime,
    event_type: str | None = None,
    public: bool | None = None,
) -> list[str]:
    """Owe every origin of the task this update, where its source registered a callback.

    One delivery per request grouped into the task (four Zendesk tickets about
    one bug get four updates); the ids, each derived from the change and the
    request, so scheduling again is harmless.
    """
    callbacks: dict[str, Callback | None] = {}
    scheduled = []
    for origin in task_origins(session, task):
        if origin.source not in callbacks:
            callbacks[origin.source] = session.get(Callback, origin.source)
        callback = callbacks[origin.source]
        if callback is None:
            continue
        delivery_id = derived_id("delivery", event_id, callback.source, origin.event_id)
        body = callback_body(
            callback.format,
            delivery_id=delivery_id,
            task=task,
            state=state,
            message=message,
            changed_at=now,
            origin=origin,
            event_type=event_type,
            public=public,
        )
        session.add(
            Delivery(
                delivery_id=delivery_id,
                task_id=task.task_id,
                event_id=event_id,
                source=callback.source,
                task_state=state,
                url=delivery_url(callback.url, origin),
                body=json.dumps(body, ensure_ascii=False),
                state=PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
                origin_event_id=origin.event_id[:256],
                origin_ref=origin.ref,
            )
        )
        scheduled.append(delivery_id)
    return scheduled


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 6
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    timeout_s: float = 10.0
    poll_interval_s: float = 0.5
    lease_margin_s: float = 30.0

    @property
    def lease_s(self) -> float:
        """How long a claimed attempt keeps its delivery: connecting and reading the answer
        each get ``timeout_s``, and the margin covers writing down the outcome."""
        return 2 * self.timeout_s + self.lease_margin_s


def backoff_delay(attempt: int, policy: DeliveryPolicy, rand: Callable[[], float]) -> float:
    """Seconds before attempt ``attempt + 1``: exponential, capped, with full-half jitter."""
    base = min(policy.backoff_max_s, policy.backoff_initial_s * 2 ** max(0, attempt - 1))
    return float(base * (0.5 + 0.5 * rand()))


Poster = Callable[[str, bytes, dict[str, str], float], int]


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    response = httpx.post(url, content=body, headers=headers, timeout=timeout)
    return response.status_code


class Deliverer:
    """Posts due deliveries on a background thread (or one round at a time, in tests)."""

    def __init__(
        self,
        engine: sa.Engine,
        policy: DeliveryPolicy,
        *,
        dead_letters: Any,
        metrics: ApiMetrics | None = None,
        clock: Clock = utc_now,
        post: Poster = http_post,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._engine = engine
        self._policy = policy
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._clock = clock
        self._post = post
        self._rand = rand
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="handoff-api-deliverer", daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep delivering: log and try again next round
                log.exception("the delivery round failed")
            self._stop.wait(self._policy.poll_interval_s)

    def run_once(self, limit: int = 50) -> int:
        """Attempt every due delivery once; how many were attempted."""
        now = self._clock()
        with Session(self._engine) as session:
            due = list(
                session.scalars(
                    sa.select(Delivery.delivery_id)
                    .where(Delivery.state == PENDING, Delivery.next_attempt_at <= now)
                    .order_by(Delivery.next_attempt_at)
                    .limit(limit)
                )
            )
        for delivery_id in due:
            self._attempt(delivery_id)
        return len(due)

    def _attempt(self, delivery_id: str) -> None:
        with Session(self._engine, expire_on_commit=False) as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None or delivery.state != PENDING:
                return
            callback = session.get(Callback, delivery.source)
            task = session.get(Task, delivery.task_id)
        if callback is None or task is None:
            return
        attempt = self._claim(delivery)
        if attempt is None:
            return  # another process took it first
        body = delivery.body.encode("utf-8")
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(callback.secret, timestamp, body),
            IDEMPOTENCY_HEADER: delivery_id,
            "X-Handoff-Delivery-Attempt": str(attempt),
            "X-Handoff-Task": task.task_id,
        }
        began = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            status = self._post(delivery.url, body, headers, self._policy.timeout_s)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        took = time.perf_counter() - began
        now = self._clock()
        self._record(delivery, task, attempt, status, error, took, now)

    def _claim(self, delivery: Delivery) -> int | None:
        """Take the delivery for its next attempt: the attempt's number, or None if we lost.

        The update is the lock: it matches only while the row is pending, due and
        not counted by anyone else since we read it, so of several processes one
        wins. It counts the attempt and leases the row until the attempt must be
        over; a process that dies holding it leaves a lease that runs out.
        """
        now = self._clock()
        attempt = delivery.attempts + 1
        with self._engine.begin() as conn:
            claimed = conn.execute(
                sa.update(Delivery)
                .where(
                    Delivery.delivery_id == delivery.delivery_id,
                    Delivery.state == PENDING,
                    Delivery.attempts == delivery.attempts,
                    Delivery.next_attempt_at <= now,
                )
                .values(
                    attempts=attempt,
                    next_attempt_at=now + timedelta(seconds=self._policy.lease_s),
                )
            ).rowcount
        return attempt if claimed == 1 else None

    def _still_claimed(self, delivery: Delivery, attempt: int) -> bool:
        """Whether our claim stands: no one took the delivery after our lease ran out."""
        with Session(self._engine) as session:
            current = session.get(Delivery, delivery.delivery_id)
        return current is not None and current.state == PENDING and current.attempts == attempt

    def _record(
        self,
        delivery: Delivery,
        task: Task,
        attempt: int,
        status: int | None,
        error: str | None,
        took: float,
        now: datetime,
    ) -> None:
        outcome = "delivered" if error is None else "failed"
        values: dict[str, Any] = {"last_error": error}
        if error is None:
            values.update(state=DELIVERED, delivered_at=now)
        elif attempt >= self._policy.max_attempts and self._still_claimed(delivery, attempt):
            outcome = "dead"
            self._park(delivery, task, attempt, error, now)
            values.update(state=DEAD)
        else:
            delay = backoff_delay(attempt, self._policy, self._rand)
            values.update(next_attempt_at=now + timedelta(seconds=delay))
        # A 2xx settles the delivery whoever holds it; a failure is ours to park or
        # reschedule only while our claim stands (the attempt is logged either way).
        ours = [Delivery.state == PENDING]
        if error is not None:
            ours.append(Delivery.attempts == attempt)
        with Session(self._engine) as session, session.begin():
            session.add(
                DeliveryAttempt(
                    delivery_id=delivery.delivery_id,
                    attempt=attempt,
                    at=now,
                    status_code=status,
                    latency_s=took,
                    error=error,
                )
            )
            session.execute(
                sa.update(Delivery)
                .where(Delivery.delivery_id == delivery.delivery_id, *ours)
                .values(**values)
            )
            latency: float | None = None
            if error is None and delivery.task_state == "resolved":
                first = max(0.0, (now - task.raised_at).total_seconds())
                session.execute(
                    sa.update(Task)
                    .where(Task.task_id == task.task_id, Task.feedback_delivered_at.is_(None))
                    .values(feedback_delivered_at=now, feedback_latency_s=first)
                )
                # the histogram counts each asker's own wait, from their own request's time
                origin = (
                    session.get(TaskOrigin, (task.task_id, delivery.origin_event_id))
                    if delivery.origin_event_id
                    else None
                )
                raised_at = origin.raised_at if origin is not None else task.raised_at
                latency = max(0.0, (now - raised_at).total_seconds())
        if self._metrics is not None:
            self._metrics.deliveries.labels(outcome=outcome).inc()
            if latency is not None:
                self._metrics.delivered_feedback_latency.labels(
                    team=task.team, department=task.department or "unknown"
                ).observe(latency)

    def _park(
        self, delivery: Delivery, task: Task, attempt: int, error: str, now: datetime
    ) -> None:
        reason = (
            f"callback to {delivery.url} for task {task.task_id} failed {attempt} times; "
            f"last: {error}"
        )
        letter = DeadLetter.from_raw(
            reason=reason,
            error_type="CallbackDeliveryFailed",
            topic=topics.FEEDBACK,
            partition=-1,
            offset=-1,
            key=task.account.encode("utf-8"),
            value=delivery.body.encode("utf-8"),
            service="api",
            at=now,
        )
        try:
            self._dead_letters.send(task.account.encode("utf-8"), letter.to_bytes())
        except PublishError:
            log.warning(
                "could not park delivery %s; it stays pending and is retried when its lease ends",
                delivery.delivery_id,
            )
            raise
