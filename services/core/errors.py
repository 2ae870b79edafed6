"""One root for every error handoff raises on purpose."""

from __future__ import annotations


class HandoffError(Exception):
    """Root of handoff's own errors."""


class RuleError(HandoffError):
    """A rule file that cannot be loaded; says where and why."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason
