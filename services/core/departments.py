"""Which department asks: a request's department is its source's, whoever answers it.

The answering side is the team (and the team's department in the rule file);
the asking side is where the request came from. Sources are CloudEvents
``source`` paths (``/sources/zendesk``); the helpdesks speak for support, the
CRMs for sales, the capacity feeds for manufacturing.
"""

from __future__ import annotations

from typing import Final

UNKNOWN: Final = "unknown"
SOURCE_DEPARTMENTS: Final[dict[str, str]] = {
    "support": "support",
    "zendesk": "support",
    "freshdesk": "support",
    "sales": "sales",
    "salesforce": "sales",
    "hubspot": "sales",
    "capacity": "manufacturing",
    "capacity-csv": "manufacturing",
}


def source_name(source: str) -> str:
    """``/sources/zendesk`` -> ``zendesk``; ``/acme/crm`` -> ``acme``; empty -> ``unknown``."""
    parts = [p for p in source.split("/") if p]
    if parts and parts[0] == "sources":
        parts = parts[1:]
    return parts[0][:64].lower() if parts else UNKNOWN


def asking_department(source: str) -> str:
    """The department that raised a request from ``source`` (its own name when unmapped)."""
    name = source_name(source)
    return SOURCE_DEPARTMENTS.get(name, name)
