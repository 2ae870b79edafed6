"""A grouped task's terms: the priority and SLA it follows, taken from its most urgent request.

Every request in a task keeps the terms its own route gave it (priority, SLA
policy, when its clock started, its deadlines). The task follows the most
urgent of them: the earliest first deadline, then the earliest resolve
deadline, then the higher priority. A request that joins with tighter
deadlines, or whose priority changes, can change the task's terms; the
router then sends an update of the same task (see ``TaskTerms.revision``),
never a second task.

Pure values, standard library only; ``to_dict`` / ``from_dict`` for the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

PRIORITY_RANK: Final = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
_NEVER: Final = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Terms:
    """What one request asks of its task: its priority and its route's deadlines."""

    priority: str
    sla: str | None
    start: datetime  # when the request's SLA clock started
    acknowledge_by: datetime | None = None
    resolve_by: datetime | None = None

    @property
    def first_deadline(self) -> datetime | None:
        return self.acknowledge_by or self.resolve_by

    def urgency(self) -> tuple[datetime, datetime, int]:
        """Smaller is more urgent."""
        first = self.first_deadline or _NEVER
        return first, self.resolve_by or _NEVER, PRIORITY_RANK.get(self.priority, 9)

    def to_dict(self) -> dict[str, Any]:
        return {
            "priority": self.priority,
            "sla": self.sla,
            "start": self.start.isoformat(),
            "acknowledge_by": _iso(self.acknowledge_by),
            "resolve_by": _iso(self.resolve_by),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Terms:
        return cls(
            priority=str(data["priority"]),
            sla=str(data["sla"]) if data.get("sla") else None,
            start=datetime.fromisoformat(data["start"]),
            acknowledge_by=_time(data.get("acknowledge_by")),
            resolve_by=_time(data.get("resolve_by")),
        )


@dataclass(frozen=True)
class TaskTerms:
    """The terms of each request of a task (by event id) and how often the task's changed."""

    requests: Mapping[str, Terms] = field(default_factory=dict, hash=False)
    revision: int = 0  # updates sent for the task so far

    def of(self, event_id: str) -> Terms | None:
        return self.requests.get(event_id)

    def current(self) -> Terms | None:
        """The most urgent request's terms (None: none known, e.g. a task stored before)."""
        if not self.requests:
            return None
        return min(self.requests.values(), key=Terms.urgency)

    def with_request(self, event_id: str, terms: Terms) -> TaskTerms:
        return replace(self, requests={**self.requests, event_id: terms})

    def keep(self, event_ids: Iterable[str]) -> TaskTerms:
        """Only the requests the task still keeps (it keeps the most recent ids)."""
        kept = set(event_ids)
        return replace(self, requests={k: v for k, v in self.requests.items() if k in kept})

    def revised(self) -> TaskTerms:
        return replace(self, revision=self.revision + 1)

    def to_dict(self) -> dict[str, Any]:
        requests = {event_id: t.to_dict() for event_id, t in self.requests.items()}
        return {"revision": self.revision, "requests": requests}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TaskTerms:
        if not data:
            return cls()
        requests = {str(k): Terms.from_dict(v) for k, v in (data.get("requests") or {}).items()}
        return cls(requests, int(data.get("revision") or 0))


def changes(before: Terms, after: Terms) -> tuple[tuple[str, str | None, str | None], ...]:
    """(name, before, after) of every term that differs, in a fixed order."""
    pairs = (
        ("priority", before.priority, after.priority),
        ("sla_policy", before.sla, after.sla),
        ("acknowledge_by", _iso(before.acknowledge_by), _iso(after.acknowledge_by)),
        ("resolve_by", _iso(before.resolve_by), _iso(after.resolve_by)),
    )
    return tuple(p for p in pairs if p[1] != p[2])


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
