"""The committed JSON Schemas are exactly what the models generate."""

from __future__ import annotations

import json
from pathlib import Path

from schemas import jsonschema
from schemas.events import SUPPORT_TICKET


def test_committed_schemas_match_the_models() -> None:
    assert jsonschema.stale() == [], (
        "a model changed without its JSON Schema: run `python -m schemas.jsonschema` "
        "and commit schemas/json/"
    )


def test_a_changed_or_missing_file_is_reported(tmp_path: Path) -> None:
    jsonschema.write(tmp_path)
    path = tmp_path / jsonschema.file_name(SUPPORT_TICKET)
    schema = json.loads(path.read_text())
    del schema["$defs"]["SupportTicket"]["properties"]["subject"]
    path.write_text(json.dumps(schema))
    (tmp_path / jsonschema.file_name("sales.note")).unlink()

    assert sorted(jsonschema.stale(tmp_path)) == [
        "sales.note.v1.schema.json",
        "support.ticket.v1.schema.json",
    ]
    assert jsonschema.main(["--check"]) == 0


def test_each_schema_fixes_its_type_and_describes_its_data() -> None:
    for event_type, model in jsonschema.EVENT_MODELS.items():
        schema = json.loads((jsonschema.DIRECTORY / jsonschema.file_name(event_type)).read_text())
        assert schema["properties"]["type"]["const"] == event_type
        assert schema["$id"] == f"urn:handoff:event:{event_type}:v1"
        data = schema["$defs"][model.__name__]
        assert set(data["properties"]) == set(model.model_fields)
        assert {"id", "source", "type", "time", "data"} <= set(schema["required"])
