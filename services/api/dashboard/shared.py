"""The pages sales, marketing and production share: lead quality, and capacity held.

Read through the ``/v1/stats/lead-quality`` and ``/v1/capacity/*`` route
functions as the viewer, beside what sales asked and who answered it (the
figures), so a page with no lead or capacity data yet still says what exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.api.auth import Principal
from services.api.dashboard.overview import SalesView, sales_view
from services.api.deps import ApiContext
from services.api.lead_quality import GroupBy
from services.api.payloads.capacity import HoldOut, LineHolds
from services.api.routes import capacity, lead_quality


@dataclass(frozen=True)
class Kpis:
    """Lead quality per source and per campaign (the last 90 days), sales' requests."""

    by_source: lead_quality.LeadQualityPage
    by_campaign: lead_quality.LeadQualityPage
    sales: SalesView

    @property
    def empty(self) -> bool:
        return self.by_source.total.leads == 0


def kpis(api: ApiContext, principal: Principal) -> Kpis:
    def page(by: GroupBy) -> lead_quality.LeadQualityPage:
        return lead_quality.lead_quality(principal, api, by=by, since=None, until=None)

    return Kpis(page("source"), page("campaign"), sales_view(api, principal))


@dataclass(frozen=True)
class Capacity:
    """Units held per line, the holds in force, and rush orders answered at once or not."""

    lines: list[LineHolds]
    holds: list[HoldOut]
    sales: SalesView

    @property
    def empty(self) -> bool:
        return not self.lines and not self.holds


def capacity_view(api: ApiContext, principal: Principal) -> Capacity:
    lines = capacity.capacity_lines(principal, api).lines
    holds = capacity.capacity_holds(principal, api, plant=None, line=None, state="held").holds
    return Capacity(lines, holds, sales_view(api, principal))
