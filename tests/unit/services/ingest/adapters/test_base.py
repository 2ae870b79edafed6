"""The strict readers every adapter uses: odd but valid inputs read, bad ones named."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from services.ingest.adapters.base import (
    AdapterContext,
    AdapterError,
    day,
    decimal,
    integer,
    loss_reason,
    string_list,
    text,
    timestamp,
)
from services.ingest.adapters.markup import html_to_text

CTX = AdapterContext(received_at=datetime(2026, 3, 2, tzinfo=UTC))
JST = timezone(timedelta(hours=9))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-02T09:30:00Z", datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
        ("2026-03-02T18:30:00+09:00", datetime(2026, 3, 2, 18, 30, tzinfo=JST)),
        ("2026-03-02T09:30:00.000+0000", datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),  # Salesforce
        ("2026-03-02 09:30:00+00:00", datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
        (1772443800000, datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),  # HubSpot epoch ms
        ("1772443800000", datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
        (None, None),
        ("  ", None),
    ],
)
def test_timestamps_in_the_forms_tools_write(raw: object, expected: datetime | None) -> None:
    assert timestamp(raw, ("t",)) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2026-03-02T09:30:00", "no time zone"),
        ("Mon, 2 Mar 2026", "not an ISO 8601"),
        (True, "boolean"),
        ({"at": 1}, "an object"),
        ("99999999999999999999", "out of range"),
    ],
)
def test_timestamps_refused_name_the_field(raw: object, reason: str) -> None:
    with pytest.raises(AdapterError, match=reason) as caught:
        timestamp(raw, ("body", "created_at"))
    assert caught.value.errors[0]["loc"] == ["body", "created_at"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(500, 500), ("500", 500), (" 1,200 ", 1200), ("12.0", 12), (12.0, 12), ("", None)],
)
def test_integers_from_numeric_strings(raw: object, expected: int | None) -> None:
    assert integer(raw, ("q",)) == expected


@pytest.mark.parametrize("raw", ["12.5", "twelve", "1_000", "nan", "inf", True, [1]])
def test_non_integers_are_refused(raw: object) -> None:
    with pytest.raises(AdapterError):
        integer(raw, ("q",))


def test_decimal_reads_amount_strings() -> None:
    assert decimal("48000.50", ("a",)) == 48000.5
    with pytest.raises(AdapterError, match="out of range"):
        decimal(10**30, ("a",))


def test_text_keeps_unicode_and_turns_numbers_into_text() -> None:
    assert text(" 請求書 ", ("s",)) == "請求書"
    assert text(35436, ("id",)) == "35436"
    assert text("", ("s",)) is None
    with pytest.raises(AdapterError, match="boolean"):
        text(False, ("s",))


def test_day_from_a_date_or_a_date_time() -> None:
    assert day("2026-03-12", ("d",)) == date(2026, 3, 12)
    assert day("2026-03-20T00:00:00.000Z", ("d",)) == date(2026, 3, 20)
    with pytest.raises(AdapterError, match="not a date"):
        day("2026-02-30", ("d",))


def test_string_lists_from_lists_or_placeholder_strings() -> None:
    assert string_list(["billing", " vip ", ""], ("t",)) == ["billing", "vip"]
    assert string_list("delivery,配送 urgent", ("t",)) == ["delivery", "配送", "urgent"]
    assert string_list([], ("t",)) is None


def test_html_to_text_drops_tags_and_decodes_entities() -> None:
    markup = "<div><p>支払い&amp;請求</p><script>alert(1)</script><p>2行目<br>3行目</p></div>"
    assert html_to_text(markup) == "支払い&請求\n\n2行目\n3行目"
    assert html_to_text("a &lt; b") == "a < b"
    assert html_to_text("plain text, no tags") == "plain text, no tags"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Budget", "budget"),
        ("Price", "budget"),
        ("Lost to Competitor", "competitor"),
        ("No Decision / Non-Responsive", "timing"),
        ("no need", "no_need"),
        ("Something else entirely", "other"),
        (None, "other"),
    ],
)
def test_loss_reasons_land_in_the_taxonomy(raw: str | None, expected: str) -> None:
    assert loss_reason(raw, CTX) == expected


def test_a_configured_taxonomy_is_used() -> None:
    ctx = AdapterContext(received_at=CTX.received_at, loss_reasons=("price", "other"))
    assert loss_reason("Price", ctx) == "price"
    assert loss_reason("Budget", ctx) == "other"
