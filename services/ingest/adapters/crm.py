"""What Salesforce and HubSpot notes share once read: intents, lead statuses, the contract."""

from __future__ import annotations

import re
from typing import Any

from schemas.events import LeadStatus, SalesIntent, SalesNote
from schemas.sales import ASKING_INTENTS
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
from services.ingest.adapters.lead_statuses import status_key

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


def lead_status(value: object, loc: Loc, ctx: AdapterContext) -> LeadStatus:
    """A CRM's lead or lifecycle status through the configured map ("Working - Contacted",
    "IN_PROGRESS", "salesqualifiedlead"), else by its words ("Marketing Qualified")."""
    name = text(value, loc)
    if name is None:
        raise AdapterError.at(loc, "field required: the lead status", "missing")
    mapped = ctx.lead_statuses.get(status_key(name))
    if mapped is not None:
        return LeadStatus(mapped)
    words = name.lower().replace("-", " ")
    for pattern, status in LEAD_STATUS_WORDS:
        if pattern.search(words) or pattern.search(words.replace(" ", "")):
            return status
    msg = (
        f"lead status {name!r} is not in the lead status map and maps to none of "
        "MQL, SQL, opportunity, won, lost; add it to HANDOFF_INGEST_LEAD_STATUS_MAP"
    )
    raise AdapterError.at(loc, msg, "enum")


def note(
    fields: dict[str, Any],
    *,
    source: str,
    id_parts: tuple[str, ...],
    ctx: AdapterContext,
    loc: Loc,
    rep_loc: Loc | None = None,
    account_loc: Loc | None = None,
) -> Normalised:
    """The ``sales.note`` for these fields (subject and body clipped, never refused for length).

    A request (rush order, quote, feature ask) without a rep is refused at ``rep_loc``: the
    vendor's owner field, not handoff's ``rep_email``; one without any account id or
    customer e-mail at ``account_loc`` (the vendor's account field).
    """
    fields = dict(fields)
    _need_rep(fields, rep_loc or (*loc, "rep_email"))
    _need_account(fields, account_loc or loc)
    fields["subject"] = clip(fields.get("subject") or "", SUBJECT_MAX) or None
    fields["body"] = clip(fields.get("body") or "", TEXT_MAX)
    model = validated(SalesNote, {k: v for k, v in fields.items() if v is not None}, loc)
    return note_normalised(model, source, ctx, id_parts)


def _need_rep(fields: dict[str, Any], rep_loc: Loc) -> None:
    if fields.get("intent") in ASKING_INTENTS and not fields.get("rep_email"):
        msg = "field required: the rep (the record's owner) who gets the answer"
        raise AdapterError.at(rep_loc, msg, "missing")


def _need_account(fields: dict[str, Any], account_loc: Loc) -> None:
    if not any(fields.get(k) for k in ("crm_account_id", "company_id", "customer_email")):
        msg = "no account: the record names no account, company or customer e-mail"
        raise AdapterError.at(account_loc, msg, "missing")
