"""A versioned JSON Schema per event type, generated from the pydantic models.

``python -m schemas.jsonschema`` writes ``schemas/json/<type>.v1.schema.json``;
``python -m schemas.jsonschema --check`` exits 1 when a committed file differs from the
models (a test does the same). Each schema describes the whole CloudEvents envelope with
its ``type`` fixed and its ``data`` the event's model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.events import (
    PRODUCTION_CAPACITY,
    SALES_NOTE,
    SLA_AT_RISK,
    SLA_BREACHED,
    SUPPORT_TICKET,
    SUPPORT_TICKET_UPDATED,
    TASK_FEEDBACK,
    TASK_ROUTED,
    CloudEvent,
    ProductionCapacity,
    SalesNote,
    SlaSignal,
    SupportTicket,
    TaskFeedback,
    TaskRouted,
    TicketUpdated,
)
from schemas.orders import HOLD_RELEASED, HoldReleased

VERSION = 1
DIRECTORY = Path(__file__).resolve().parent / "json"
EVENT_MODELS: dict[str, type[BaseModel]] = {
    SUPPORT_TICKET: SupportTicket,
    SUPPORT_TICKET_UPDATED: TicketUpdated,
    SALES_NOTE: SalesNote,
    PRODUCTION_CAPACITY: ProductionCapacity,
    TASK_ROUTED: TaskRouted,
    TASK_FEEDBACK: TaskFeedback,
    SLA_AT_RISK: SlaSignal,
    SLA_BREACHED: SlaSignal,
    HOLD_RELEASED: HoldReleased,
}


def file_name(event_type: str) -> str:
    return f"{event_type}.v{VERSION}.schema.json"


def schema_for(event_type: str) -> dict[str, Any]:
    """The CloudEvent schema for one event type, its data inlined under ``$defs``."""
    data = EVENT_MODELS[event_type].model_json_schema(ref_template="#/$defs/{model}")
    defs = data.pop("$defs", {})
    defs[data["title"]] = data
    envelope = CloudEvent.model_json_schema(ref_template="#/$defs/{model}")
    properties = dict(envelope["properties"])
    properties["type"] = {"const": event_type, "title": "Type", "type": "string"}
    properties["data"] = {"$ref": f"#/$defs/{data['title']}"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:handoff:event:{event_type}:v{VERSION}",
        "title": f"{event_type} v{VERSION}",
        "description": (envelope.get("description") or "").strip(),
        "type": "object",
        "properties": properties,
        "required": envelope.get("required", []),
        "additionalProperties": True,
        "$defs": dict(sorted(defs.items())),
    }


def rendered(event_type: str) -> str:
    return json.dumps(schema_for(event_type), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write(directory: Path = DIRECTORY) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type in EVENT_MODELS:
        path = directory / file_name(event_type)
        path.write_text(rendered(event_type), encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path = DIRECTORY) -> list[str]:
    """The schema files that are missing or differ from what the models generate."""
    out = []
    for event_type in EVENT_MODELS:
        path = directory / file_name(event_type)
        if not path.exists() or path.read_text(encoding="utf-8") != rendered(event_type):
            out.append(path.name)
    return out


def main(argv: list[str]) -> int:
    if "--check" in argv:
        differ = stale()
        for name in differ:
            print(f"out of date: schemas/json/{name}", file=sys.stderr)
        if differ:
            print("regenerate with: python -m schemas.jsonschema", file=sys.stderr)
        return 1 if differ else 0
    for path in write():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
