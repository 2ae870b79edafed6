"""Capacity CSVs as Japanese Excel saves them: Shift_JIS, cp932, UTF-8 with a BOM, UTF-16.

The fixture files hold real Shift_JIS / cp932 bytes (``CSV (コンマ区切り)`` in Japanese
Excel writes cp932; the ``CSV UTF-8`` choice adds a BOM). Microsoft documents both
choices: https://support.microsoft.com/en-us/office/import-or-export-text-txt-or-csv-files-5250ac4c-663c-47ce-937b-339e391393ba
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from schemas.events import ProductionCapacity
from services.ingest.adapters import capacity_csv
from services.ingest.adapters.base import AdapterContext, AdapterError

from .fixtures import FIXTURES

CTX = AdapterContext(received_at=datetime(2026, 11, 30, 1, 0, tzinfo=UTC))


def raw(name: str) -> bytes:
    body = (FIXTURES / name).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")  # the test would prove nothing on UTF-8 bytes
    return body


def models(payload: object) -> list[ProductionCapacity]:
    outs = capacity_csv.adapt(payload, CTX)
    return [ProductionCapacity.model_validate(out.event.data) for out in outs]


def test_a_shift_jis_export_with_japanese_headers() -> None:
    l1, l2 = models(raw("capacity-shift_jis.csv"))
    assert (l1.plant, l1.line, l1.products) == ("浜松第2工場", "l1", ["wx-300"])
    assert [(d.date, d.units) for d in l1.free] == [(date(2026, 12, 2), 5000)]
    assert (l2.line, l2.products) == ("l2", ["wx-200", "wx-300"])
    assert [d.units for d in l2.free] == [1200, 1800]


def test_cp932_characters_outside_shift_jis() -> None:
    [model] = models(raw("capacity-cp932.csv"))
    assert model.plant == "髙崎①工場"


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16"])
def test_utf8_with_bom_and_excel_unicode_text(codec: str) -> None:
    body = (FIXTURES / "capacity-shift_jis.csv").read_bytes().decode("cp932").encode(codec)
    assert [m.plant for m in models(body)] == ["浜松第2工場", "浜松第2工場"]


@pytest.mark.parametrize("charset", ["Shift_JIS", "windows-31j", "cp932"])
def test_a_declared_charset_is_used(charset: str) -> None:
    upload = capacity_csv.CsvUpload(raw("capacity-shift_jis.csv"), charset)
    assert len(models(upload)) == 2


def test_a_wrong_declared_charset_names_the_line() -> None:
    upload = capacity_csv.CsvUpload(raw("capacity-shift_jis.csv"), "utf-8")
    with pytest.raises(AdapterError) as err:
        capacity_csv.adapt(upload, CTX)
    [problem] = err.value.errors
    assert problem["loc"] == ["row", 1]
    assert "not valid utf-8" in problem["msg"]


def test_an_unknown_charset_is_refused() -> None:
    with pytest.raises(AdapterError, match="charset 'euc-kr' is not read for CSV"):
        capacity_csv.adapt(capacity_csv.CsvUpload(b"plant", "euc-kr"), CTX)


def test_errors_name_the_row_and_the_japanese_column() -> None:
    with pytest.raises(AdapterError) as err:
        capacity_csv.adapt(raw("capacity-bad-units-cp932.csv"), CTX)
    [problem] = err.value.errors
    assert problem["loc"] == ["row", 2, "空き数量"]
