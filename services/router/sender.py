"""Send until acknowledged, and the dead letter.

A consumed event is acknowledged only once every send it caused was
acknowledged by the broker, so a broker outage stalls the partition instead
of losing the message; resending is harmless, the ids are derived from the
source event. No Faust here: the app hands in its topics and the errors
that mean "not acknowledged, try again".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from schemas import topics
from schemas.dlq import DeadLetter
from services.core.backoff import Backoff, BackoffPolicy
from services.router.batch import CURRENT_BATCH, Send
from services.router.inbound import SERVICE

log = logging.getLogger(__name__)
RETRY_POLICY = BackoffPolicy(initial_s=0.5, max_s=10.0)


class Topic(Protocol):
    """What the sender needs of a Faust topic."""

    async def send(self, *, key: bytes | None, value: bytes) -> Awaitable[Any]: ...

    def get_topic_name(self) -> str: ...


class Counter(Protocol):
    def inc(self, amount: float = 1) -> None: ...


@dataclass(frozen=True)
class Consumed:
    """A consumed record as the dead letter names it (``schemas.dlq.ConsumedRecord``)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True)
class Sender:
    """Sends ``(topic name, key, value)`` and waits for every acknowledgement."""

    topic: Callable[[str], Topic]
    retryable: tuple[type[BaseException], ...]  # not acknowledged: try again
    retries: Counter
    clock: Callable[[], datetime]

    async def send_acked(self, sends: Sequence[Send]) -> None:
        """Send all, wait for every ack; retry what failed until it is acknowledged.

        Inside a batch the sends join the batch's, made when it ends.
        """
        batch = CURRENT_BATCH.get()
        if batch is not None:
            batch.sends.extend(sends)
            return
        pending, backoff = list(sends), Backoff(RETRY_POLICY)
        while pending:
            pending = await self._attempt(pending)
            if pending:
                delay = backoff.next()
                self._log_retries(pending, delay)
                await asyncio.sleep(delay)

    async def dead_letter(self, record: Consumed, reason: str, error_type: str) -> None:
        """Park ``record`` on the dead-letter topic with the reason."""
        log.warning("dead-lettering %s: %s", record.where(), reason)
        letter = DeadLetter.of_record(
            record, reason=reason, error_type=error_type, service=SERVICE, at=self.clock()
        )
        await self.send_acked([(topics.DLQ, record.key, letter.to_bytes())])

    async def _attempt(self, pending: Sequence[Send]) -> list[Send]:
        """One try at every send (enqueued in order, acked together); the ones that failed."""
        enqueued = [await self._enqueue(name, key, value) for name, key, value in pending]
        results = await asyncio.gather(*enqueued, return_exceptions=True)
        failed = []
        for send, result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, self.retryable):
                    raise result
                failed.append(send)
                log.warning("send to %s not acknowledged (%r)", send[0], result)
        return failed

    def _log_retries(self, failed: Sequence[Send], delay: float) -> None:
        log.warning("%d sends not acknowledged; retrying in %.1fs", len(failed), delay)
        self.retries.inc(len(failed))

    async def _enqueue(self, name: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        """The send handed to the producer; an awaitable of its acknowledgement (or error)."""
        try:
            acked: Awaitable[Any] = await self.topic(name).send(key=key, value=value)
        except self.retryable as exc:
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            return failed
        return acked
