"""What Salesforce and HubSpot notes share once read: intents, lead statuses, the contract."""

from __future__ import annotations

import re
from typing import Any

from schemas.events import LeadStatus, SalesIntent, SalesNote
from services.ingest.adapters.base import (
    AdapterContext,
    AdapterError,
    Loc,
    Normalised,
    text,
    validated,
)
from services.ingest.adapters.handoff import note_normalised
from services.ingest.adapters.helpdesk import SUBJECT_MAX, TEXT_MAX, clip

INTENTS = {i.value: i for i in SalesIntent}
LEAD_STATUS_WORDS = (
    (re.compile(r"\bmql\b|marketing.?qualified"), LeadStatus.MQL),
    (re.compile(r"\bsql\b|sales.?qualified"), LeadStatus.SQL),
    (re.compile(r"not.?converted|unqualified|disqualified|\blost\b"), LeadStatus.LOST),
    (re.compile(r"converted|opportunity"), LeadStatus.OPPORTUNITY),
    (re.compile(r"\bwon\b|customer"), LeadStatus.WON),
)


def intent(value: object, loc: Loc) -> SalesIntent:
    name = text(value, loc)
    if name is None:
        raise AdapterError.at(loc, "field required: the note's intent", "missing")
    slug = re.sub(r"[^a-z]+", "_", name.lower()).strip("_")
    found = INTENTS.get(slug)
    if found is None:
        allowed = ", ".join(INTENTS)
        raise AdapterError.at(loc, f"unknown intent {name!r} (one of {allowed})", "enum")
    return found


def lead_status(value: object, loc: Loc) -> LeadStatus:
    """A CRM's lead or lifecycle status ("Marketing Qualified", "salesqualifiedlead", ...)."""
    name = text(value, loc)
    if name is None:
        raise AdapterError.at(loc, "field required: the lead status", "missing")
    words = name.lower().replace("-", " ")
    for pattern, status in LEAD_STATUS_WORDS:
        if pattern.search(words) or pattern.search(words.replace(" ", "")):
            return status
    allowed = "MQL, SQL, opportunity, won, lost"
    raise AdapterError.at(loc, f"lead status {name!r} maps to none of {allowed}", "enum")


def note(
    fields: dict[str, Any],
    *,
    source: str,
    id_parts: tuple[str, ...],
    ctx: AdapterContext,
    loc: Loc,
) -> Normalised:
    """The ``sales.note`` for these fields (subject and body clipped, never refused for length)."""
    fields = dict(fields)
    fields["subject"] = clip(fields.get("subject") or "", SUBJECT_MAX) or None
    fields["body"] = clip(fields.get("body") or "", TEXT_MAX)
    model = validated(SalesNote, {k: v for k, v in fields.items() if v is not None}, loc)
    return note_normalised(model, source, ctx, id_parts)
