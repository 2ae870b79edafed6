from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.core.labels import ALL, GroupBy, group_key, routing_labels
from services.core.matchers import parse_matcher

ENVELOPE = {
    "specversion": "1.0",
    "type": "support.ticket",
    "source": "zendesk/acme",
    "id": "t-1",
    "time": datetime(2026, 11, 20, 17, 30, tzinfo=UTC),
}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"priority": "urgent"}, {"priority": "urgent"}),
        ({"customer": {"tier": "gold", "address": {"country": "JP"}}},
         {"customer.tier": "gold", "customer.address.country": "JP"}),
        ({"vip": True, "spam": False}, {"vip": "true", "spam": "false"}),
        ({"quantity": 500, "ratio": 0.5, "price": Decimal("9.90")},
         {"quantity": "500", "ratio": "0.5", "price": "9.90"}),
        ({"assignee": None, "customer": {"tier": None}}, {}),
        ({"due_date": date(2026, 12, 12)}, {"due_date": "2026-12-12"}),
        ({"seen": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
         {"seen": "2026-01-02T03:04:05+00:00"}),
        ({"tags": ["billing", "ui", 3, True, None]}, {"tags": "billing,ui,3,true"}),
        ({"tags": []}, {"tags": ""}),
        ({"lines": [{"sku": "a"}], "matrix": [[1, 2]]}, {}),  # not routing labels
        ({"empty": {}}, {}),
        ({"a.b": "literal", "a": {"b": "nested"}}, {"a.b": "literal"}),  # first one wins
        ({"a": {"b": "nested"}, "a.b": "literal"}, {"a.b": "nested"}),
        ({7: "seven"}, {"7": "seven"}),
    ],
)  # fmt: skip
def test_data_fields_flatten_to_strings(
    data: dict[object, object], expected: dict[str, str]
) -> None:
    labels = routing_labels(ENVELOPE, data)  # type: ignore[arg-type]
    assert {k: v for k, v in labels.items() if k not in ENVELOPE} == expected


def test_envelope_attributes_are_labels_with_iso_time() -> None:
    assert routing_labels(ENVELOPE, {}) == {
        "specversion": "1.0",
        "type": "support.ticket",
        "source": "zendesk/acme",
        "id": "t-1",
        "time": "2026-11-20T17:30:00+00:00",
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"source": "email"}, {"source": "zendesk/acme", "data.source": "email"}),
        ({"type": {"kind": "x"}}, {"type": "support.ticket", "type.kind": "x"}),  # no clash
        # the data.<name> place is taken by a real data field: that one stays
        ({"data": {"source": "real"}, "source": "email"},
         {"source": "zendesk/acme", "data.source": "real"}),
    ],
)  # fmt: skip
def test_data_never_overwrites_the_envelope(
    data: dict[str, object], expected: dict[str, str]
) -> None:
    labels = routing_labels(ENVELOPE, data)
    assert {k: labels.get(k) for k in expected} == expected


LABELS = {"account": "acme.com", "component": "billing-ui", "type": "support.ticket", "x": ""}


@pytest.mark.parametrize(
    ("group_by", "key"),
    [
        (GroupBy(("component", "account")), 'account="acme.com",component="billing-ui"'),
        (GroupBy(("account",)), 'account="acme.com"'),
        (GroupBy(("account", "missing", "x")), 'account="acme.com"'),  # absent or empty: left out
        (GroupBy(), ""),
        (ALL, 'account="acme.com",component="billing-ui",type="support.ticket"'),
    ],
)
def test_group_key_is_sorted_and_readable(group_by: GroupBy, key: str) -> None:
    assert group_key(group_by, LABELS) == key


def test_group_key_quotes_values_as_matchers_do() -> None:
    labels = {"subject": 'say "hi"\\now\n'}
    key = group_key(ALL, labels)
    assert key == r'subject="say \"hi\"\\now\n"'
    assert parse_matcher(key).matches(labels)


def test_group_key_does_not_depend_on_label_order() -> None:
    reordered = dict(reversed(list(LABELS.items())))
    assert group_key(ALL, reordered) == group_key(ALL, LABELS)


@pytest.mark.parametrize(
    ("group_by", "text"), [(GroupBy(("a", "b")), "[a, b]"), (ALL, "['...']"), (GroupBy(), "[]")]
)
def test_group_by_prints_as_written(group_by: GroupBy, text: str) -> None:
    assert str(group_by) == text
