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

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from schemas import topics
from schemas.dlq import DeadLetter
from schemas.events import TaskState, derived_id
from services.api.callback_requests import MissingSecretError, Outgoing, Poster, http_send, outgoing
from services.api.clock import Clock, utc_now
from services.api.db import Callback, Delivery, DeliveryAttempt, Task, TaskOrigin, origins_of
from services.api.metrics import ApiMetrics
from services.api.producer import PublishError
from services.api.rollups import locked_snapshot, retally
from services.api.webhooks import Origin, callback_body, delivery_url
from services.core.backoff import BackoffPolicy
from services.core.departments import asking_department

log = logging.getLogger(__name__)

PENDING: Final = "pending"
DELIVERED: Final = "delivered"
DEAD: Final = "dead"


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
    update = _Update(event_id, state, message, now, event_type, public)
    callbacks: dict[str, Callback | None] = {}
    scheduled = []
    for origin in task_origins(session, task):
        if origin.source not in callbacks:
            callbacks[origin.source] = session.get(Callback, origin.source)
        callback = callbacks[origin.source]
        if callback is not None:
            delivery = _delivery(callback, origin, task, update)
            session.add(delivery)
            scheduled.append(delivery.delivery_id)
    return scheduled


@dataclass(frozen=True)
class _Update:
    """One change of a task, as every origin is owed it."""

    event_id: str
    state: str
    message: str
    at: datetime
    event_type: str | None
    public: bool | None


def _delivery(callback: Callback, origin: Origin, task: Task, update: _Update) -> Delivery:
    """The row owing ``origin`` the update, in its callback's format, due now."""
    delivery_id = derived_id("delivery", update.event_id, callback.source, origin.event_id)
    body = callback_body(
        callback.format,
        delivery_id=delivery_id,
        task=task,
        state=update.state,
        message=update.message,
        changed_at=update.at,
        origin=origin,
        event_type=update.event_type,
        public=update.public,
    )
    return Delivery(
        delivery_id=delivery_id,
        task_id=task.task_id,
        event_id=update.event_id,
        source=callback.source,
        task_state=update.state,
        url=delivery_url(callback.url, origin),
        body=json.dumps(body, ensure_ascii=False),
        state=PENDING,
        attempts=0,
        created_at=update.at,
        next_attempt_at=update.at,
        origin_event_id=origin.event_id[:256],
        origin_ref=origin.ref,
    )


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

    @property
    def backoff(self) -> BackoffPolicy:
        return BackoffPolicy(initial_s=self.backoff_initial_s, max_s=self.backoff_max_s)


def backoff_delay(attempt: int, policy: DeliveryPolicy, rand: Callable[[], float]) -> float:
    """Seconds before attempt ``attempt + 1``: exponential, capped, with full-half jitter."""
    return policy.backoff.jittered(attempt, rand)


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
        post: Poster = http_send,
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
        try:  # the callback's method, headers and auth (its secret read from the environment)
            request = outgoing(callback, delivery, attempt, task.task_id)
        except MissingSecretError as exc:
            self._record(delivery, task, attempt, None, str(exc), 0.0, self._clock())
            return
        began = time.perf_counter()
        status, error = self._post_once(request, delivery.body.encode("utf-8"))
        took = time.perf_counter() - began
        self._record(delivery, task, attempt, status, error, took, self._clock())

    def _post_once(self, request: Outgoing, body: bytes) -> tuple[int | None, str | None]:
        """The origin's HTTP status (None if none came) and what went wrong (None: a 2xx)."""
        try:
            status = self._post(
                request.method, request.url, body, request.headers, self._policy.timeout_s
            )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return status, None if 200 <= status < 300 else f"HTTP {status}"

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
        outcome, values = self._outcome(delivery, task, attempt, error, now)
        log_entry = DeliveryAttempt(
            delivery_id=delivery.delivery_id,
            attempt=attempt,
            at=now,
            status_code=status,
            latency_s=took,
            error=error,
        )
        # A 2xx settles the delivery whoever holds it; a failure is ours to park or
        # reschedule only while our claim stands (the attempt is logged either way).
        ours = [Delivery.state == PENDING]
        if error is not None:
            ours.append(Delivery.attempts == attempt)
        latency: float | None = None
        with Session(self._engine) as session, session.begin():
            before = locked_snapshot(session.connection(), [task.task_id])  # the figures' rollups
            session.add(log_entry)
            session.execute(
                sa.update(Delivery)
                .where(Delivery.delivery_id == delivery.delivery_id, *ours)
                .values(**values)
            )
            if error is None and delivery.task_state == TaskState.RESOLVED:
                latency = _answer_delivered(session, delivery, task, now)
            retally(session.connection(), [task.task_id], before)
        self._count(outcome, delivery, task, latency)

    def _outcome(
        self, delivery: Delivery, task: Task, attempt: int, error: str | None, now: datetime
    ) -> tuple[str, dict[str, Any]]:
        """Delivered, dead (parked on the dead-letter topic) or failed (retried later)."""
        values: dict[str, Any] = {"last_error": error}
        if error is None:
            return "delivered", {**values, "state": DELIVERED, "delivered_at": now}
        if attempt >= self._policy.max_attempts and self._still_claimed(delivery, attempt):
            self._park(delivery, task, attempt, error, now)
            return "dead", {**values, "state": DEAD}
        delay = backoff_delay(attempt, self._policy, self._rand)
        return "failed", {**values, "next_attempt_at": now + timedelta(seconds=delay)}

    def _count(self, outcome: str, delivery: Delivery, task: Task, latency: float | None) -> None:
        if self._metrics is None:
            return
        self._metrics.deliveries.labels(outcome=outcome).inc()
        if latency is not None:
            asking = asking_department(delivery.source)  # the asker's, not the team's
            self._metrics.delivered_feedback_latency.labels(
                team=task.team, department=asking
            ).observe(latency)

    def _park(
        self, delivery: Delivery, task: Task, attempt: int, error: str, now: datetime
    ) -> None:
        # The delivery id names what to retry (``handoff deliveries retry <id>``); a vendor
        # body (Zendesk, a CRM) does not carry it.
        reason = (
            f"callback delivery {delivery.delivery_id} to {delivery.url} for task "
            f"{task.task_id} failed {attempt} times; last: {error}"
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
            if self._metrics is not None:
                self._metrics.dead_lettered("CallbackDeliveryFailed")
        except PublishError:
            log.warning(
                "could not park delivery %s; it stays pending and is retried when its lease ends",
                delivery.delivery_id,
            )
            raise


def _answer_delivered(session: Session, delivery: Delivery, task: Task, now: datetime) -> float:
    """The origin has the answer: the task's feedback is delivered (its first answer counts).

    The asker's wait, from their own request's time, for the histogram.
    """
    first = max(0.0, (now - task.raised_at).total_seconds())
    session.execute(
        sa.update(Task)
        .where(Task.task_id == task.task_id, Task.feedback_delivered_at.is_(None))
        .values(feedback_delivered_at=now, feedback_latency_s=first)
    )
    origin = (
        session.get(TaskOrigin, (task.task_id, delivery.origin_event_id))
        if delivery.origin_event_id
        else None
    )
    raised_at = origin.raised_at if origin is not None else task.raised_at
    return max(0.0, (now - raised_at).total_seconds())
