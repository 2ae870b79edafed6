"""Lead quality judged on outcomes: per lead source, campaign or account over a window.

A *journey* is one lead and what became of it: the sales outcomes (``sales_outcomes``)
linked by the CRM's ids -- a lead id, a contact id, an opportunity id (a Salesforce lead
names the opportunity it was converted into; a deal names its contact) -- each within
its tool. A journey is a lead when it has a lead-status event; it starts at the first.
For the leads that started in ``[since, until)``:

- ``leads``; ``reached_opportunity`` (a deal exists, or the status reached opportunity
  or won) and ``opportunity_rate`` (商談化率) = reached_opportunity / leads;
- ``won``, ``lost`` and ``lost_by_reason`` (the taxonomy's reason; a lead closed without
  a deal and without a reason counts as ``unqualified``), by the journey's latest outcome
  whenever it came;
- ``median_time_to_outcome_s``: from the lead's start to that outcome.

Pure functions over :class:`OutcomeRecord` (:func:`lead_quality`), and the one query that
reads them (:func:`read_lead_quality`), so the dashboard computes the same figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median
from typing import Literal

import sqlalchemy as sa

from services.api.models.accounts import SALES_OUTCOMES

GroupBy = Literal["source", "campaign", "account"]
DEALS = frozenset({"deal_won", "deal_lost"})
LEAD = "lead_status_changed"
UNKNOWN = "unknown"
UNQUALIFIED = "unqualified"


@dataclass(frozen=True)
class OutcomeRecord:
    """One row of ``sales_outcomes``, as lead quality reads it."""

    event_id: str
    source: str
    account: str
    intent: str
    at: datetime
    lead_status: str | None = None
    loss_reason: str | None = None
    lead_id: str | None = None
    contact_id: str | None = None
    opportunity_id: str | None = None
    lead_source: str | None = None
    campaign: str | None = None

    def keys(self) -> list[str]:
        """The ids that link it to other records of the same lead (within its tool)."""
        ids = (("lead", self.lead_id), ("contact", self.contact_id), ("opp", self.opportunity_id))
        found = [f"{self.source}|{kind}|{value}" for kind, value in ids if value]
        return found or [f"event|{self.event_id}"]

    def decisive(self) -> bool:
        return self.intent in DEALS or self.lead_status in ("won", "lost")

    def won(self) -> bool:
        return self.intent == "deal_won" or (self.intent == LEAD and self.lead_status == "won")


@dataclass(frozen=True)
class Journey:
    """One lead's records, oldest first."""

    records: tuple[OutcomeRecord, ...]

    @property
    def start(self) -> OutcomeRecord | None:
        return next((r for r in self.records if r.intent == LEAD), None)

    def reached_opportunity(self) -> bool:
        return any(
            r.intent in DEALS or r.lead_status in ("opportunity", "won") for r in self.records
        )

    def outcome(self) -> OutcomeRecord | None:
        return next((r for r in reversed(self.records) if r.decisive()), None)

    def group(self, by: GroupBy) -> str:
        if by == "account":
            start = self.start
            return start.account if start else UNKNOWN
        name = "lead_source" if by == "source" else "campaign"
        return next((v for r in self.records if (v := getattr(r, name))), UNKNOWN)


@dataclass
class LeadQuality:
    """The figures of one group."""

    group: str
    leads: int = 0
    reached_opportunity: int = 0
    won: int = 0
    lost: int = 0
    lost_by_reason: dict[str, int] = field(default_factory=dict)
    times_to_outcome_s: list[float] = field(default_factory=list, repr=False)

    @property
    def opportunity_rate(self) -> float | None:
        return self.reached_opportunity / self.leads if self.leads else None

    @property
    def median_time_to_outcome_s(self) -> float | None:
        return median(self.times_to_outcome_s) if self.times_to_outcome_s else None

    def add(self, journey: Journey, started: datetime) -> None:
        self.leads += 1
        self.reached_opportunity += journey.reached_opportunity()
        outcome = journey.outcome()
        if outcome is None:
            return
        self.times_to_outcome_s.append(max(0.0, (outcome.at - started).total_seconds()))
        if outcome.won():
            self.won += 1
            return
        self.lost += 1
        reason = outcome.loss_reason or UNQUALIFIED
        self.lost_by_reason[reason] = self.lost_by_reason.get(reason, 0) + 1


def journeys(records: Iterable[OutcomeRecord]) -> list[Journey]:
    """The records grouped into journeys: linked when they share an id (union-find)."""
    ordered = sorted(records, key=lambda r: (r.at, r.event_id))
    parent: dict[str, str] = {}
    for record in ordered:
        first, *rest = record.keys()
        for key in rest:
            _union(parent, first, key)
    members: dict[str, list[OutcomeRecord]] = defaultdict(list)
    for record in ordered:
        members[_root(parent, record.keys()[0])].append(record)
    return [Journey(tuple(group)) for group in members.values()]


def _root(parent: dict[str, str], key: str) -> str:
    while parent.get(key, key) != key:
        parent[key] = parent.get(parent[key], parent[key])
        key = parent[key]
    return key


def _union(parent: dict[str, str], a: str, b: str) -> None:
    root_a, root_b = _root(parent, a), _root(parent, b)
    if root_a != root_b:
        parent[max(root_a, root_b)] = min(root_a, root_b)


def lead_quality(
    records: Iterable[OutcomeRecord], *, since: datetime, until: datetime, by: GroupBy
) -> tuple[list[LeadQuality], LeadQuality]:
    """The figures per group (sorted by group) and over all, for leads started in the window."""
    groups: dict[str, LeadQuality] = {}
    total = LeadQuality(group="all")
    for journey in journeys(records):
        start = journey.start
        if start is None or not since <= start.at < until:
            continue
        name = journey.group(by)
        groups.setdefault(name, LeadQuality(group=name)).add(journey, start.at)
        total.add(journey, start.at)
    return [groups[name] for name in sorted(groups)], total


def read_lead_quality(
    conn: sa.Connection, *, since: datetime, until: datetime, by: GroupBy
) -> tuple[list[LeadQuality], LeadQuality]:
    """:func:`lead_quality` over the stored outcomes (every row: a lead's start may be
    before the window's outcomes, and its outcome after the window)."""
    rows = conn.execute(sa.select(SALES_OUTCOMES))
    return lead_quality(_records(rows.mappings()), since=since, until=until, by=by)


def _records(rows: Iterable[sa.RowMapping]) -> list[OutcomeRecord]:
    names = OutcomeRecord.__dataclass_fields__
    return [OutcomeRecord(**{k: v for k, v in row.items() if k in names}) for row in rows]
