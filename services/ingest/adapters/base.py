"""What every adapter shares: the result type, the one error, and strict readers for JSON.

An adapter is a pure function ``(payload, context) -> list[Normalised]``: the payload is
the tool's parsed JSON (or a CSV text), nothing is read from the environment or the
clock. Whatever it cannot use it refuses with :class:`AdapterError`, which names the
field and the reason (the HTTP edge turns it into a 422, the batch import into a
reject line, the Kafka path into a dead letter) -- never any other exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.events import CloudEvent, derived_id, envelope
from services.core.errors import HandoffError
from services.core.identity import resolve_account
from services.ingest import times
from services.ingest.adapters.labels import LabelMap
from services.ingest.adapters.lead_statuses import DEFAULT_LEAD_STATUSES
from services.ingest.times import TimeRefusedError, TimeWindow

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

DEFAULT_LOSS_REASONS = ("budget", "timing", "competitor", "no_need", "other")
LOSS_REASON_SYNONYMS = {
    "price": "budget",
    "pricing": "budget",
    "too_expensive": "budget",
    "no_budget": "budget",
    "cost": "budget",
    "lost_to_competitor": "competitor",
    "competition": "competitor",
    "competitor_won": "competitor",
    "bad_timing": "timing",
    "not_now": "timing",
    "no_decision": "timing",
    "no_decision_non_responsive": "timing",
    "no_interest": "no_need",
    "not_interested": "no_need",
    "no_fit": "no_need",
    "no_requirement": "no_need",
}


class AdapterError(HandoffError):
    """A payload an adapter cannot use: each problem as ``{"loc", "msg", "type"}``."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        super().__init__(f"{where}: {first['msg']}")

    @classmethod
    def at(cls, loc: Loc, msg: str, type_: str = "value_error") -> AdapterError:
        return cls([{"loc": list(loc), "msg": msg, "type": type_}])


@dataclass(frozen=True)
class Normalised:
    """One event ready for Kafka: its topic, its key (the account) and the CloudEvent."""

    topic: str
    key: str
    event: CloudEvent


@dataclass(frozen=True)
class AdapterContext:
    """What an adapter may know besides the payload: when it arrived, the loss taxonomy."""

    received_at: datetime
    loss_reasons: tuple[str, ...] = DEFAULT_LOSS_REASONS
    loss_reason_synonyms: Mapping[str, str] = field(
        default_factory=lambda: dict(LOSS_REASON_SYNONYMS)
    )
    window: TimeWindow = field(default_factory=TimeWindow)
    lead_statuses: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_LEAD_STATUSES))
    # the source's routing labels from its custom fields and tags (see adapters.labels)
    labels: LabelMap = field(default_factory=dict)

    def sla_start(self, raised_at: datetime | None) -> datetime | None:
        """When a request raised at ``raised_at`` starts its SLA, if not then (see TimeWindow)."""
        return self.window.sla_start(raised_at, self.received_at)


# ---- strict readers: every wrong shape is an AdapterError naming where --------------------


def obj(value: object, loc: Loc) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AdapterError.at(loc, f"must be a JSON object, not {_kind(value)}", "dict_type")
    return value


def get(data: Mapping[str, Any], name: str) -> Any:
    """The value, or None when missing."""
    return data.get(name)


def need(data: Mapping[str, Any], name: str, loc: Loc) -> Any:
    value = data.get(name)
    if value is None or value == "":
        raise AdapterError.at((*loc, name), "field required", "missing")
    return value


def text(value: object, loc: Loc) -> str | None:
    """A string; numbers become their decimal text; None and blank stay None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise AdapterError.at(loc, "must be a string, not a boolean", "string_type")
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise AdapterError.at(loc, f"must be a string, not {_kind(value)}", "string_type")
    return value.strip() or None


def need_text(data: Mapping[str, Any], name: str, loc: Loc) -> str:
    value = text(data.get(name), (*loc, name))
    if value is None:
        raise AdapterError.at((*loc, name), "field required", "missing")
    return value


def integer(value: object, loc: Loc) -> int | None:
    """An integer; numeric strings ("500", " 1,200 ", "12.0") are accepted."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise AdapterError.at(loc, "must be a number, not a boolean", "int_type")
    if isinstance(value, int):
        return value
    number = decimal(value, loc)
    if number is None or not number.is_integer():
        raise AdapterError.at(loc, f"must be a whole number, got {value!r}", "int_type")
    return int(number)


def decimal(value: object, loc: Loc) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise AdapterError.at(loc, "must be a number, not a boolean", "float_type")
    if isinstance(value, int | float):
        if isinstance(value, int) and abs(value) > 10**18:
            raise AdapterError.at(loc, f"number out of range: {value}", "float_type")
        number = float(value)
    elif isinstance(value, str):
        try:
            if "_" in value:
                raise ValueError(value)
            number = float(value.strip().replace(",", ""))
        except ValueError:
            raise AdapterError.at(loc, f"must be a number, got {value!r}", "float_type") from None
    else:
        raise AdapterError.at(loc, f"must be a number, not {_kind(value)}", "float_type")
    if number != number or number in (float("inf"), float("-inf")):
        raise AdapterError.at(loc, f"must be a finite number, got {value!r}", "float_type")
    return number


def timestamp(value: object, loc: Loc) -> datetime | None:
    """An aware datetime from ISO 8601 (``Z``, ``+09:00``, ``+0000``) or epoch milliseconds.

    A time without a zone is refused: it is ambiguous, and guessing shifts deadlines. So is
    one that cannot be converted to UTC (see :mod:`services.ingest.times`).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise AdapterError.at(loc, "must be a date-time, not a boolean", "datetime_type")
    try:
        return _parsed_time(value, loc)
    except TimeRefusedError as exc:
        raise AdapterError.at(loc, exc.msg, exc.kind) from None


def _parsed_time(value: object, loc: Loc) -> datetime:
    digits = isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()
    if isinstance(value, int | float) or digits:
        millis = float(str(value)) if len(str(value)) < 20 else -1.0
        return times.from_epoch_ms(millis, value)
    if not isinstance(value, str):
        raise AdapterError.at(loc, f"must be a date-time, not {_kind(value)}", "datetime_type")
    return times.parse_iso(value)


def instant(value: object, loc: Loc, ctx: AdapterContext) -> datetime | None:
    """A :func:`timestamp` that is also one handoff can use (within ``ctx.window``)."""
    moment = timestamp(value, loc)
    if moment is not None:
        usable(moment, loc, ctx)
    return moment


def usable(moment: datetime, loc: Loc, ctx: AdapterContext) -> None:
    """Refuse, naming ``loc``, an instant outside the window or not representable in UTC."""
    try:
        times.representable(moment, moment.isoformat())
        ctx.window.check(moment, ctx.received_at)
    except TimeRefusedError as exc:
        raise AdapterError.at(loc, exc.msg, exc.kind) from None


def day(value: object, loc: Loc) -> date | None:
    """A calendar date from ``2026-03-12``, or the date part of a date-time."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise AdapterError.at(loc, f"not a date (YYYY-MM-DD): {value!r}", "date") from None
    moment = timestamp(value, loc)
    return moment.astimezone(UTC).date() if moment else None


def string_list(value: object, loc: Loc) -> list[str] | None:
    """A list of strings; a comma-separated string is split (helpdesk placeholders do that)."""
    if value is None:
        return None
    if isinstance(value, str):
        items = [part.strip() for part in re.split(r"[,\s]+", value)]
        return [item for item in items if item] or None
    if not isinstance(value, list):
        raise AdapterError.at(loc, f"must be a list, not {_kind(value)}", "list_type")
    out = [text(item, (*loc, i)) for i, item in enumerate(value)]
    return [item for item in out if item] or None


# ---- models, accounts, events --------------------------------------------------------------


def validated(model: type[M], data: Mapping[str, Any], loc: Loc = ("body",)) -> M:
    """The model, or an AdapterError with each pydantic error located under ``loc``."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise AdapterError(
            [
                {"loc": [*loc, *error["loc"]], "msg": error["msg"], "type": error["type"]}
                for error in exc.errors(include_url=False)
            ]
        ) from None


def account(
    *, crm_id: str | None = None, company_id: str | None = None, email: str | None = None
) -> str:
    try:
        return resolve_account(crm_id=crm_id, company_id=company_id, email=email).value
    except ValueError as exc:
        raise AdapterError.at(("body",), str(exc), "account") from None


def event(
    *,
    topic: str,
    key: str,
    type_: str,
    source: str,
    data: BaseModel,
    time: datetime,
    id_parts: Sequence[str],
    subject: str | None,
    sla_start: datetime | None = None,
) -> Normalised:
    """A Normalised event whose id is derived from (type, source, *id_parts)."""
    cloud = envelope(
        type_=type_,
        source=source,
        data=data,
        time=time,
        event_id=derived_id(type_, source, *id_parts),
        subject=subject,
        sla_start=sla_start,
    )
    return Normalised(topic=topic, key=key, event=cloud)


def iso(moment: datetime) -> str:
    """A stable text for an instant (UTC), for deriving ids from update times."""
    return moment.astimezone(UTC).isoformat()


def loss_reason(raw: str | None, ctx: AdapterContext) -> str:
    """The CRM's loss reason in the agreed taxonomy; anything unknown is ``other``."""
    if raw is None:
        return "other"
    slug = re.sub(r"[^a-z0-9]+", "_", raw.strip().lower()).strip("_")
    if slug in ctx.loss_reasons:
        return slug
    mapped = ctx.loss_reason_synonyms.get(slug)
    return mapped if mapped in ctx.loss_reasons else "other"


def _kind(value: object) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), "null" if value is None else type(value).__name__)
