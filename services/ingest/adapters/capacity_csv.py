"""Production capacity CSV exports -> ``production.capacity`` (one event per line and as_of).

One row per plant, line, date: ``plant,line,products,date,free_units,as_of``
(``products``: what the line can make, separated by ``|``; ``product_family`` is read too).
Saved by Japanese Excel: Shift_JIS / cp932 or UTF-8 with a byte-order mark are read
(a BOM means UTF-8, else UTF-8 is tried, then cp932, a superset of Shift_JIS; a
``charset`` given on the Content-Type is used as given), and Japanese headers
(工場, ライン, 製品, 日付, 空き数量, 基準日時) are columns like their English names.
As manufacturing systems write them: a UTF-8 byte-order mark, ``;`` or tab instead of
``,``, headers in any case with spaces ("Free Units"), the aliases ``units``/``free``/
``available`` and ``day``, thousands separators in numbers ("1,200" in a ``;`` file),
line names with spaces ("Line A" -> ``line-a``). ``as_of`` needs a time zone.
Errors name a column as the export wrote it ("Free Units", ``units``), and a
missing one by its documented name (``free_units``); a date that is not
``YYYY-MM-DD`` is refused with one message however it is written (``2026/12/10``,
``2026年12月10日``).
Rows of one (plant, line, product family, as_of) become one event whose id is derived
from those four, the same as the JSON endpoint's, so a re-imported export is harmless.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from schemas.events import ProductionCapacity
from services.ingest.adapters.base import (
    AdapterContext,
    AdapterError,
    Normalised,
    instant,
    integer,
    text,
    validated,
)
from services.ingest.adapters.handoff import capacity_normalised
from services.ingest.times import TimeRefusedError, parse_day

COLUMNS = {
    "plant": "plant",
    "plant_id": "plant",
    "line": "line",
    "line_id": "line",
    "production_line": "line",
    "product_family": "product_family",
    "family": "product_family",
    "date": "date",
    "day": "date",
    "free_units": "units",
    "units": "units",
    "free": "units",
    "available": "units",
    "available_units": "units",
    "as_of": "as_of",
    "asof": "as_of",
    "exported_at": "as_of",
    "products": "products",
    "product": "products",
    "工場": "plant",
    "ライン": "line",
    "製造ライン": "line",
    "製品": "products",
    "品目": "products",
    "製品群": "product_family",
    "日付": "date",
    "空き数量": "units",
    "空き": "units",
    "数量": "units",
    "基準日時": "as_of",
    "更新日時": "as_of",
}
# Charsets a plant's CSV may declare (Content-Type: text/csv; charset=...), as Python names.
CHARSETS = {
    "utf-8": "utf-8-sig",
    "utf8": "utf-8-sig",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "cp932": "cp932",
    "windows-31j": "cp932",
    "ms932": "cp932",
    "utf-16": "utf-16",
}
PRODUCT_SEPARATORS = re.compile(r"[|;、\s]+")
REQUIRED = ("plant", "line", "date", "units", "as_of")
# A column's documented name, for one the header lacks.
DOCUMENTED = {"units": "free_units"}
T = TypeVar("T")
Group = tuple[str, str, str | None, datetime, tuple[str, ...]]


@dataclass(frozen=True)
class CapacityRow:
    number: int  # 1-based line number in the file (the header is line 1)
    plant: str
    line: str
    product_family: str | None
    date: date
    units: int
    as_of: datetime
    products: tuple[str, ...] = ()


@dataclass(frozen=True)
class RowError:
    number: int
    raw: str
    error: AdapterError


def parse(
    content: str, ctx: AdapterContext | None = None
) -> tuple[list[CapacityRow], list[RowError]]:
    """Every row read, or refused with the reason; a bad header refuses the whole file.

    Times are judged as received now unless ``ctx`` says when.
    """
    ctx = ctx or _received_now()
    content = content.removeprefix("\ufeff")
    lines = content.splitlines()
    if not lines or not lines[0].strip():
        raise AdapterError.at(("body",), "the CSV has no header row", "csv")
    _refuse_nul(lines)
    reader = csv.reader(lines, _dialect(lines[0]))
    written = [_written(name) for name in _read(reader, next)]
    header = [_column(name) for name in written]
    names = dict(zip(header, written, strict=True))  # a column given twice: the last, as cells
    missing = [DOCUMENTED.get(name, name) for name in REQUIRED if name not in header]
    if missing:
        msg = f"the CSV header lacks {', '.join(missing)} (got {', '.join(written)})"
        raise AdapterError.at(("body", "header"), msg, "csv")
    rows: list[CapacityRow] = []
    errors: list[RowError] = []
    for number, cells in enumerate(_read(reader, list), start=2):
        if not any(cell.strip() for cell in cells):
            continue
        try:
            cells_by_column = dict(zip(header, cells, strict=False))
            rows.append(_row(number, cells_by_column, (len(cells), len(header)), names, ctx))
        except AdapterError as exc:
            errors.append(RowError(number, lines[number - 1] if number <= len(lines) else "", exc))
    return rows, errors


def events(
    rows: list[CapacityRow], ctx: AdapterContext | None = None
) -> tuple[list[Normalised], list[RowError]]:
    """One event per (plant, line, product family, as_of); a date twice in one is refused."""
    ctx = ctx or _received_now()
    groups: dict[Group, dict[date, CapacityRow]] = {}
    errors: list[RowError] = []
    for row in rows:
        key = (row.plant, row.line, row.product_family, row.as_of, row.products)
        group = groups.setdefault(key, {})
        if row.date in group:
            earlier = group[row.date].number
            msg = f"{row.date} already given for {row.plant}/{row.line} on line {earlier}"
            errors.append(
                RowError(row.number, "", AdapterError.at(("row", row.number, "date"), msg))
            )
            continue
        group[row.date] = row
    out: list[Normalised] = []
    for (plant, line, family, as_of, products), days in groups.items():
        first = min(r.number for r in days.values())
        try:
            model = validated(
                ProductionCapacity,
                {
                    "plant": plant,
                    "line": line,
                    "product_family": family,
                    "products": list(products),
                    "as_of": as_of,
                    "free": [{"date": d, "units": days[d].units} for d in sorted(days)],
                },
                ("row", first),
            )
        except AdapterError as exc:
            errors.extend(RowError(r.number, "", exc) for r in days.values())
            continue
        out.append(capacity_normalised(model, ctx, ("row", first, "as_of")))
    return out, errors


def adapt(payload: object, ctx: AdapterContext) -> list[Normalised]:
    """A whole CSV upload: every row must be good, or the upload is refused naming the rows."""
    if isinstance(payload, CsvUpload):
        payload = decode(payload.body, payload.charset)
    if isinstance(payload, bytes):
        payload = decode(payload)
    if not isinstance(payload, str):
        raise AdapterError.at(("body",), "a CSV upload must be text", "string_type")
    rows, errors = parse(payload, ctx)
    found, more = events(rows, ctx)
    errors += more
    if errors:
        raise AdapterError([e for err in errors[:20] for e in err.error.errors])
    if not found:
        raise AdapterError.at(("body",), "the CSV has no data rows", "csv")
    return found


@dataclass(frozen=True)
class CsvUpload:
    """A CSV body and the charset its Content-Type declared (None: not declared)."""

    body: bytes
    charset: str | None = None


def decode(body: bytes, charset: str | None = None) -> str:
    """The CSV's text: in the declared charset, else by its BOM, else UTF-8, else cp932."""
    if charset is not None:
        return _decode_as(body, charset)
    if body.startswith(b"\xef\xbb\xbf"):
        return _decode_as(body, "utf-8")
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" export
        return _decode_as(body, "utf-16")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return body.decode("cp932")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        msg = f"the CSV is neither UTF-8 nor Shift_JIS/cp932 (byte {exc.start}, line {line})"
        raise AdapterError.at(("row", line), msg, "charset") from None


def _decode_as(body: bytes, charset: str) -> str:
    codec = CHARSETS.get(charset.strip().lower())
    if codec is None:
        known = ", ".join(sorted(CHARSETS))
        msg = f"charset {charset!r} is not read for CSV (use one of {known})"
        raise AdapterError.at(("header", "Content-Type"), msg, "charset")
    try:
        return body.decode(codec)
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        msg = f"the CSV is not valid {charset} (byte {exc.start}, line {line})"
        raise AdapterError.at(("row", line), msg, "charset") from None


def _products(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(sorted({_slug(p) for p in PRODUCT_SEPARATORS.split(value) if p.strip()}))


def _row(
    number: int,
    cells: dict[str, str],
    widths: tuple[int, int],
    names: Mapping[str, str],
    ctx: AdapterContext,
) -> CapacityRow:
    """One data row; an error's loc names the column as the header wrote it."""
    loc = ("row", number)
    width, expected = widths
    if width > expected:
        raise AdapterError.at(loc, f"{width} cells but the header has {expected}", "csv")
    values: dict[str, Any] = {}
    for name in REQUIRED:
        values[name] = text(cells.get(name), (*loc, names[name]))
        if values[name] is None:
            raise AdapterError.at((*loc, names[name]), "field required", "missing")
    family = text(
        cells.get("product_family"), (*loc, names.get("product_family", "product_family"))
    )
    units = integer(values["units"], (*loc, names["units"]))
    when = _date(values["date"], (*loc, names["date"]))
    products = _products(text(cells.get("products"), (*loc, names.get("products", "products"))))
    as_of = instant(values["as_of"], (*loc, names["as_of"]), ctx)
    if units is None or as_of is None:  # pragma: no cover - required above
        raise AdapterError.at(loc, "field required", "missing")
    if not 0 <= units <= 1_000_000_000:
        raise AdapterError.at((*loc, names["units"]), f"must be 0..1e9, got {units}", "range")
    return CapacityRow(
        number=number,
        plant=values["plant"],
        line=_slug(values["line"]),
        product_family=_slug(family) if family else None,
        date=when,
        units=units,
        as_of=as_of,
        products=products,
    )


def _date(value: str, loc: tuple[str | int, ...]) -> date:
    try:
        return parse_day(value)
    except TimeRefusedError as exc:
        raise AdapterError.at(loc, exc.msg, exc.kind) from None


def _read(reader: Any, take: Callable[[Any], T]) -> T:
    """``take(reader)``, a row the csv module cannot read refused naming its line."""
    try:
        return take(reader)
    except csv.Error as exc:
        msg = f"unreadable CSV ({exc}; at most {csv.field_size_limit()} characters a field)"
        raise AdapterError.at(("row", reader.line_num), msg, "csv") from None


def _refuse_nul(lines: list[str]) -> None:
    for number, line in enumerate(lines, start=1):
        if "\x00" in line:
            msg = "a NUL character (U+0000) is not allowed in text"
            raise AdapterError.at(("row", number), msg, "string_nul")


def _received_now() -> AdapterContext:
    return AdapterContext(received_at=datetime.now(UTC))


def _dialect(header: str) -> type[csv.Dialect]:
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    sep = max(counts, key=lambda s: counts[s])

    class Export(csv.excel):
        delimiter = sep

    return Export


def _written(name: str) -> str:
    """A header cell as the export wrote it, without padding or quotes."""
    return name.strip().strip('"').strip()


def _column(name: str) -> str:
    slug = "_".join(name.lower().replace("-", " ").split())
    return COLUMNS.get(slug, slug)


def _slug(value: str) -> str:
    return "-".join(value.lower().split())


def upload(body: bytes, headers: Mapping[str, str]) -> CsvUpload:
    """A CSV request body with the ``charset`` its Content-Type declares, if any."""
    _, _, params = headers.get("content-type", "").partition(";")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"'):
            return CsvUpload(body, value.strip().strip('"'))
    return CsvUpload(body)
