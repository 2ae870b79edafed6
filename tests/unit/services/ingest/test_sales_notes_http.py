"""``POST /v1/sources/sales/notes``: a product line written as reps write it is normalised.

The Salesforce path always lower-cased ``Product_Line__c``; handoff's own JSON now does
the same ("L1" -> "l1", "Line 3" -> "line-3") instead of answering with a regex error.
"""

from __future__ import annotations

import pytest

from schemas.events import SalesNote

from .endpoints import BY_NAME, make_ingest, sales_note


@pytest.mark.parametrize(
    ("given", "kept"), [("L1", "l1"), ("Line 3", "line-3"), ("wx-200", "wx-200")]
)
def test_a_product_line_in_any_case_is_accepted(given: str, kept: str) -> None:
    ingest = make_ingest()
    note = sales_note(intent="rush_order", product_line=given, quantity=500,
                      due_date="2026-03-12")  # fmt: skip
    endpoint = BY_NAME["sales"]
    response = ingest.post(endpoint, endpoint.body(note))
    assert response.status_code == 202, response.text
    assert SalesNote.model_validate(ingest.events()[0].data).product_line == kept


def test_a_product_line_that_is_no_name_still_names_the_field() -> None:
    ingest = make_ingest()
    note = sales_note(intent="rush_order", product_line="L1/α", quantity=5, due_date="2026-03-12")
    endpoint = BY_NAME["sales"]
    response = ingest.post(endpoint, endpoint.body(note))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "product_line"]
