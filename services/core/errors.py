"""One root for every error handoff raises on purpose."""

from __future__ import annotations

from typing import ClassVar


class HandoffError(Exception):
    """Root of handoff's own errors."""


class RuleError(HandoffError):
    """A rule file that cannot be loaded; says where and why."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class InvalidMessageError(HandoffError):
    """A consumed message that can never be processed: it goes to the dead-letter topic.

    ``reason`` is for a human; ``error_type`` a short class of error (``InvalidCloudEvent``)
    for the dead letter and the metrics. A subclass may cap the reason it keeps with
    ``reason_limit`` (the exception's message stays whole).
    """

    reason_limit: ClassVar[int | None] = None

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason if self.reason_limit is None else reason[: self.reason_limit]
        self.error_type = error_type
