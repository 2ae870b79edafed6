"""The lead-status map: each CRM's own status values onto handoff's lead stages.

Defaults are Salesforce's standard Lead ``Status`` picklist and HubSpot's default
``hs_lead_status`` and ``lifecyclestage`` values; ``HANDOFF_INGEST_LEAD_STATUS_MAP``
(JSON, ``{"Nurturing": "mql"}``) adds to or overrides them, so a CRM with its own
picklist needs no code change. Keys are compared as :func:`status_key` makes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

STAGES = ("mql", "sql", "opportunity", "won", "lost")

# Salesforce: the Lead Status picklist as a new org ships it (LeadStatus object).
SALESFORCE_LEAD_STATUSES = {
    "Open - Not Contacted": "mql",
    "Working - Contacted": "sql",
    "Closed - Converted": "opportunity",
    "Closed - Not Converted": "lost",
}
# HubSpot: hs_lead_status' eight default internal values, then lifecyclestage's.
HUBSPOT_LEAD_STATUSES = {
    "NEW": "mql",
    "OPEN": "mql",
    "IN_PROGRESS": "sql",
    "ATTEMPTED_TO_CONTACT": "sql",
    "CONNECTED": "sql",
    "OPEN_DEAL": "opportunity",
    "UNQUALIFIED": "lost",
    "BAD_TIMING": "lost",
    "lead": "mql",
    "marketingqualifiedlead": "mql",
    "salesqualifiedlead": "sql",
    "opportunity": "opportunity",
    "customer": "won",
    "evangelist": "won",
}


def status_key(name: str) -> str:
    """Case, spacing and dash style do not matter ("Working – contacted")."""
    dashed = re.sub(r"\s*[-\u2010-\u2015]\s*", " - ", name.strip().lower())
    return " ".join(dashed.split())


def lead_status_map(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The defaults with ``extra`` over them, keyed by :func:`status_key`."""
    merged = {**SALESFORCE_LEAD_STATUSES, **HUBSPOT_LEAD_STATUSES, **(extra or {})}
    unknown = sorted(v for v in set(merged.values()) if v not in STAGES)
    if unknown:
        raise ValueError(f"lead status map: {unknown} are not stages ({', '.join(STAGES)})")
    return {status_key(k): v for k, v in merged.items()}


DEFAULT_LEAD_STATUSES: Mapping[str, str] = lead_status_map()
