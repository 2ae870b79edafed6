"""Vendor calls retried as the vendors ask: their ``Retry-After`` or our backoff, whichever
is longer; after the configured attempts the caller parks the item with the reason.

Creating an issue is the one call that must never happen twice: after a failed
attempt the next one first looks the task's issue up (``Tracker.find``), since a
timeout or a 5xx may have come after the vendor stored it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

from services.connectors.base import ConnectorError, IssueDraft, IssueRef, Tracker
from services.core.backoff import BackoffPolicy

T = TypeVar("T")
MAX_WAIT_S: Final = 900.0  # never sleep longer than this on a vendor's word
Sleep = Callable[[float], None]


class GaveUpError(Exception):
    """The vendor refused ``attempts`` times, or refused for good: park the item."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(f"{reason} (after {attempts} attempt(s))")
        self.reason = f"{reason} (after {attempts} attempt(s))"


def wait_s(error: ConnectorError, policy: BackoffPolicy, attempt: int) -> float:
    return min(MAX_WAIT_S, max(error.retry_after_s or 0.0, policy.delay(attempt)))


def with_retries(
    call: Callable[[int], T], *, attempts: int, policy: BackoffPolicy, sleep: Sleep
) -> T:
    """``call(attempt)`` until it succeeds; ``GaveUpError`` when it cannot."""
    attempt = 1
    while True:
        try:
            return call(attempt)
        except ConnectorError as exc:
            if not exc.retryable or attempt >= attempts:
                raise GaveUpError(exc.reason, attempt) from exc
            sleep(wait_s(exc, policy, attempt))
            attempt += 1


def ensure_issue(
    tracker: Tracker, draft: IssueDraft, *, look_first: bool, attempts: int,
    policy: BackoffPolicy, sleep: Sleep,
) -> IssueRef:  # fmt: skip
    """The task's issue: found if an earlier attempt made it, else created (once)."""

    def attempt(n: int) -> IssueRef:
        found = tracker.find(draft.task_id) if look_first or n > 1 else None
        return found if found is not None else tracker.create(draft)

    return with_retries(attempt, attempts=attempts, policy=policy, sleep=sleep)
