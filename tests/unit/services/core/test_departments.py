"""The asking department is the source's (issue 16, item 10), never the answering team's."""

from __future__ import annotations

import pytest

from services.core.departments import asking_department, source_name


@pytest.mark.parametrize(
    ("source", "department"),
    [
        ("/sources/support", "support"),
        ("/sources/zendesk", "support"),
        ("/sources/freshdesk", "support"),
        ("/sources/sales", "sales"),
        ("/sources/salesforce", "sales"),
        ("/sources/hubspot", "sales"),
        ("/sources/capacity", "manufacturing"),
        ("/sources/Legal", "legal"),  # an unmapped source speaks for itself
        ("/zendesk/acme", "support"),
        ("", "unknown"),
    ],
)
def test_asking_department(source: str, department: str) -> None:
    assert asking_department(source) == department


def test_source_name_drops_the_sources_prefix() -> None:
    assert source_name("/sources/zendesk") == "zendesk"
    assert source_name("/acme/crm") == "acme"
