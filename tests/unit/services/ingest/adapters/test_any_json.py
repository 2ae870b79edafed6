"""Arbitrary JSON at every adapter: accepted, or refused with an AdapterError (a 4xx).

Never any other exception: that would be a 500 at the HTTP edge and a crash in the
Kafka consumer. Each strategy also mutates a realistic payload, so the search reaches
past the first check.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.adapters import ADAPTERS, Adapter
from services.ingest.adapters.base import AdapterError

from .fixtures import CTX, load, text

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "",
            "-",
            "4",
            "²",
            "urgent",
            "2026-03-02T09:30:00Z",
            "1772443800000",
            "closedlost",
            "Closed Lost",
            "rush_order",
            "a@b.example",
            "1,200",
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)

FIXTURES = {
    "handoff": [{"ticket_id": "T", "subject": "s", "requester_email": "a@b.example"}],
    "zendesk": [
        load("zendesk_ticket_created.json")["ticket"],
        load("zendesk_priority_changed.json")["ticket"],
    ],
    "freshdesk": [
        load("freshdesk_ticket_api.json"),
        load("freshdesk_webhook_classic.json")["freshdesk_webhook"],
    ],
    "salesforce": [load("salesforce_opportunity_lost.json"), *load("salesforce_task_rush.json")],
    "hubspot": [load("hubspot_deal_won.json"), *load("hubspot_note_quote.json")],
}


def accepted_or_refused(adapter: Adapter, payload: object) -> None:
    try:
        out = adapter(payload, CTX)
    except AdapterError as exc:
        refused = exc
    else:
        for normalised in out:
            normalised.event.to_bytes()  # whatever is accepted can be sent
        return
    assert refused.errors, "a refusal names at least one problem"
    for error in refused.errors:
        assert isinstance(error["loc"], list)
        assert error["msg"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(sorted(ADAPTERS)), payload=json_values)
def test_arbitrary_json(source: str, payload: Any) -> None:
    accepted_or_refused(ADAPTERS[source], payload)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    source = draw(st.sampled_from(sorted(FIXTURES)))
    base = dict(draw(st.sampled_from(FIXTURES[source])))
    for _ in range(draw(st.integers(1, 4))):
        keys = [*sorted(base), "properties", "owner", "requester", "event", "attributes"]
        key = draw(st.sampled_from(keys))
        if draw(st.booleans()) and key in base:
            del base[key]
        else:
            base[key] = draw(json_values)
    if source == "hubspot" and isinstance(base.get("properties"), dict) and draw(st.booleans()):
        props = dict(base["properties"])
        props[draw(st.sampled_from(sorted(props) or ["dealstage"]))] = draw(json_values)
        base["properties"] = props
    return source, base


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated())
def test_realistic_payloads_with_arbitrary_changes(case: tuple[str, dict[str, Any]]) -> None:
    source, payload = case
    accepted_or_refused(ADAPTERS[source], payload)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300) | st.binary(max_size=200))
def test_arbitrary_csv_text(payload: str | bytes) -> None:
    accepted_or_refused(ADAPTERS["capacity-csv"], payload)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=',;\n"0123456789-:TZ+abcP ', max_size=20), max_size=6))
def test_csv_rows_of_plausible_cells(cells: list[str]) -> None:
    header = "plant,line,date,units,as_of\n"
    accepted_or_refused(ADAPTERS["capacity-csv"], header + "\n".join(cells) + "\n")
    accepted_or_refused(ADAPTERS["capacity-csv"], text("capacity.csv") + ";".join(cells))
