"""What marketing needs from a sales note: the deal's outcome or the lead's new status.

A ``sales.note`` keeps, besides its intent, the CRM's stage text, the rep's own words
behind a mapped loss reason (``納期が合わない`` mapped to ``other`` keeps its text), the
lead's source and campaign and the opportunity it belongs to (:class:`SalesNoteExtras`).
A ``task.routed`` of a deal outcome or lead-status change carries one
:class:`DealOutcome` (``outcome``), so the team topic and the API show them and lead
quality can be judged on outcomes. (Kept apart from ``events.py``, which is at its size.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

OUTCOME_INTENTS = frozenset({"deal_won", "deal_lost", "lead_status_changed"})
# Requests that wait for an answer: the rep who asked is where it goes.
ASKING_INTENTS = frozenset({"rush_order", "quote_request", "feature_request"})

Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Words = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


def slug(value: object) -> object:
    """A product line as any tool writes it ("L1", "Line 3") in handoff's form ("l1", "line-3")."""
    return "-".join(value.lower().split()) if isinstance(value, str) else value


LineSlug = Annotated[
    str,
    BeforeValidator(slug),
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$"),
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SalesNoteExtras(_Frozen):
    """The fields of a ``sales.note`` that lead quality and marketing read, and its product
    line as any tool writes it (normalised, so "L1" is accepted as ``l1``)."""

    product_line: LineSlug | None = None
    stage: Short | None = Field(default=None, description="The CRM's stage or status text")
    loss_reason_text: Words | None = Field(
        default=None, description="The rep's own words behind loss_reason"
    )
    lead_source: Short | None = Field(default=None, description="e.g. Web, Trade Show")
    campaign: Short | None = Field(default=None, description="The marketing campaign")

    @model_validator(mode="after")
    def _asker_named(self) -> SalesNoteExtras:
        """An outcome needs no rep (HubSpot sends deals without an owner); a request does."""
        intent = getattr(self, "intent", None)
        if intent in ASKING_INTENTS and getattr(self, "rep_email", None) is None:
            raise ValueError(f"intent {intent} needs rep_email: the rep who gets the answer")
        return self


class DealOutcome(_Frozen):
    """A deal won or lost, or a lead's status change, as the rep's CRM reported it."""

    intent: Ref = Field(description="deal_won, deal_lost or lead_status_changed")
    stage: Short | None = Field(default=None, description="The CRM's own stage or status text")
    lead_status: Ref | None = Field(default=None, description="mql, sql, opportunity, won, lost")
    amount: float | None = Field(default=None, ge=0)
    currency: Ref | None = None
    loss_reason: Ref | None = Field(default=None, description="From the agreed taxonomy")
    loss_reason_text: Words | None = Field(
        default=None, description="The rep's own words behind the loss reason"
    )
    lead_id: Ref | None = None
    contact_id: Ref | None = None
    opportunity_id: Ref | None = None
    lead_source: Short | None = None
    campaign: Short | None = None


class RoutedOutcome(_Frozen):
    """What a ``task.routed`` adds for marketing and for identity resolution (名寄せ)."""

    outcome: DealOutcome | None = Field(
        default=None, description="A deal outcome or lead-status change: what the CRM reported"
    )
    identifiers: list[Annotated[str, StringConstraints(max_length=320)]] = Field(
        default_factory=list,
        max_length=8,
        description="Every account identifier the request carried (crm:X, company:Y, its "
        "e-mail domain): two together link them into one account",
    )


def outcome_of(data: Mapping[str, Any]) -> DealOutcome | None:
    """The outcome a ``sales.note``'s data carries (None: another intent, or unreadable)."""
    if data.get("intent") not in OUTCOME_INTENTS:
        return None
    fields = {name: data.get(name) for name in DealOutcome.model_fields}
    try:
        return DealOutcome.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError:
        return None
