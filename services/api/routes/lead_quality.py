"""``/v1/stats/lead-quality``: leads judged on their outcomes (story 3, sales -> marketing)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.api.deps import Api, Reader
from services.api.errors import BadActionError
from services.api.lead_quality import GroupBy, LeadQuality, read_lead_quality
from services.api.payloads.errors import AUTH_ERRORS, INVALID_INPUT
from services.api.payloads.fields import UtcInstant

router = APIRouter(prefix="/v1/stats")
DEFAULT_WINDOW = timedelta(days=90)


class LeadQualityOut(BaseModel):
    group: str = Field(description="The lead source, campaign or account (unknown: none given)")
    leads: int = Field(description="Leads that started in the window")
    reached_opportunity: int = Field(description="Of them, those that became a deal")
    opportunity_rate: float | None = Field(description="商談化率: reached_opportunity / leads")
    won: int
    lost: int
    lost_by_reason: dict[str, int] = Field(
        description="Lost leads by the taxonomy's reason (unqualified: closed without a deal)"
    )
    median_time_to_outcome_s: float | None = Field(
        description="From the lead's first event to its (latest) outcome, in seconds"
    )

    @classmethod
    def of(cls, figures: LeadQuality) -> "LeadQualityOut":
        return cls(
            group=figures.group,
            leads=figures.leads,
            reached_opportunity=figures.reached_opportunity,
            opportunity_rate=figures.opportunity_rate,
            won=figures.won,
            lost=figures.lost,
            lost_by_reason=dict(sorted(figures.lost_by_reason.items())),
            median_time_to_outcome_s=figures.median_time_to_outcome_s,
        )


class LeadQualityPage(BaseModel):
    since: datetime
    until: datetime
    by: GroupBy
    groups: list[LeadQualityOut]
    total: LeadQualityOut


def window_start(end: datetime) -> datetime:
    """``DEFAULT_WINDOW`` before ``end``, or the earliest instant there is (an ``until`` in
    year 1 leaves no room for 30 days before it: an empty window, not a 500)."""
    try:
        return end - DEFAULT_WINDOW
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


@router.get(
    "/lead-quality",
    response_model=LeadQualityPage,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="Lead quality per lead source, campaign or account: leads started in the window, "
    "how many reached an opportunity (商談化率), won, lost by reason, time to outcome",
)
def lead_quality(
    principal: Reader,
    api: Api,
    by: Annotated[GroupBy, Query(description="Group leads by this")] = "source",
    since: Annotated[UtcInstant | None, Query(description="Leads started at or after")] = None,
    until: Annotated[UtcInstant | None, Query(description="Leads started before")] = None,
) -> LeadQualityPage:
    end = until or api.clock()
    start = since or window_start(end)
    if start >= end:
        raise BadActionError("query.since", "must be before until")
    with api.engine.connect() as conn:
        groups, total = read_lead_quality(conn, since=start, until=end, by=by)
    return LeadQualityPage(
        since=start,
        until=end,
        by=by,
        groups=[LeadQualityOut.of(g) for g in groups],
        total=LeadQualityOut.of(total),
    )
