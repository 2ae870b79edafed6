"""Source adapters: each tool's own payload -> handoff's CloudEvents, pure functions.

``ADAPTERS`` maps a source name (as ``--source`` of ``handoff ingest`` and the raw
Kafka topics ``handoff.raw.<source>`` name it) to its adapter; ``base``, ``helpdesk``
and ``crm`` hold what several vendors share.

May import: ``schemas``, ``services.core``, ingest's own pure time parsing
(``services.ingest.times``) and pydantic. No I/O: never Kafka, HTTP,
a database or the rest of ``services.ingest`` (its server, publisher, settings).
"""

from __future__ import annotations

from collections.abc import Callable

from services.ingest.adapters import capacity_csv, freshdesk, handoff, hubspot, salesforce, zendesk
from services.ingest.adapters.base import AdapterContext, AdapterError, Normalised

Adapter = Callable[[object, AdapterContext], list[Normalised]]

ADAPTERS: dict[str, Adapter] = {
    "handoff": handoff.any_kind,
    "zendesk": zendesk.adapt,
    "freshdesk": freshdesk.adapt,
    "salesforce": salesforce.adapt,
    "hubspot": hubspot.adapt,
    "capacity-csv": capacity_csv.adapt,
}

__all__ = ["ADAPTERS", "Adapter", "AdapterContext", "AdapterError", "Normalised"]
