"""What the rep reads: the router's answer to a rush order in the asker's language, and an
answer in the shape of the rep's CRM. Pure: no database, no HTTP.

The answer says everything the rep may promise and nothing more: feasible — the
line, the units, the date and how long they are held; not feasible — "not by that
date", the earliest possible date and the planning task opened with its SLA;
not checkable — why.

The CRM shapes follow the vendors' documented APIs:

- Salesforce: an update of the rep's own Task record (the request's ``Id``, the
  callback's ``{ref}``; ``PATCH /services/data/vXX.X/sobjects/Task/{ref}``, register the
  callback with method PATCH): ``Status`` (``Completed`` for an answer, ``In Progress``
  for an interim one) and ``Description``, the answer
  (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_update_fields.htm,
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm).
- HubSpot: a note (``POST /crm/v3/objects/notes``) with ``hs_timestamp`` and
  ``hs_note_body``, associated with the deal (``HUBSPOT_DEFINED`` type 214, note to deal)
  (https://developers.hubspot.com/docs/api-reference/crm-notes-v3/guide,
  https://developers.hubspot.com/docs/api-reference/crm-associations-v4/guide).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Final

from schemas.events import TaskRouted, TaskState
from schemas.orders import HeldUnits, PlanningRequest

LOCALES: Final = ("ja", "en")
JST: Final = timezone(timedelta(hours=9), "JST")
CRM_FORMATS: Final = ("salesforce", "hubspot")
HUBSPOT_NOTE_TO_DEAL: Final = 214
REFUSALS: Final[dict[str, dict[str, str]]] = {
    "unknown_product": {
        "ja": "製品 {product} を製造できるラインの能力が公開されていません",
        "en": "no line publishes capacity for product {product}",
    },
    "due_before_today": {
        "ja": "納期 {due} は過去の日付です",
        "en": "the due date {due} is in the past",
    },
    "quantity_not_positive": {
        "ja": "数量は 1 以上で指定してください",
        "en": "the quantity must be at least 1",
    },
}


def locale_of(routed: TaskRouted, default: str) -> str:
    """The asker's language: the request's, else the configured default."""
    asked = routed.locale or (routed.planning.locale if routed.planning else None)
    return asked if asked in LOCALES else default if default in LOCALES else "en"


def order_answer(routed: TaskRouted, locale: str) -> str | None:
    """The answer a routed rush order owes the rep (None: not a rush order's answer)."""
    if routed.held is not None:
        return held_text(routed.held, locale)
    if routed.planning is not None:
        return planning_text(routed.planning, routed, locale)
    if routed.refused is not None:
        return refused_text(routed, locale)
    return None


def held_text(held: HeldUnits, locale: str) -> str:
    expires = held.expires_at.astimezone(JST if locale == "ja" else UTC)
    if locale == "ja":
        return (
            f"納期回答: {ja_date(held.ready_by)}までに {held.units:,} 台を製造できます"
            f"（{held.plant} {held.line} ライン）。{ja_time(expires)} まで確保しています。"
        )
    return (
        f"Feasible: {held.units:,} units by {held.ready_by.isoformat()} on line {held.line} "
        f"at {held.plant}; held until {expires:%Y-%m-%d %H:%M} UTC."
    )


def planning_text(planning: PlanningRequest, routed: TaskRouted, locale: str) -> str:
    due = routed.resolve_by or routed.sla_due
    earliest = planning.earliest_feasible
    if locale == "ja":
        when = (
            f"最短の可能日は{ja_date(earliest)}です"
            if earliest
            else "公開済みの生産能力では確約できる日付がありません"
        )
        return (
            f"{ja_date(planning.due_date)}には間に合いません。{when}。"
            f"生産計画タスク {routed.task_id} を起票しました"
            f"（回答期限 {ja_time(due.astimezone(JST))}）。"
        )
    when = f"earliest possible {earliest.isoformat()}" if earliest else "no published date fits"
    return (
        f"Not by {planning.due_date.isoformat()}; {when}. Planning task {routed.task_id} "
        f"opened with SLA {due.astimezone(UTC):%Y-%m-%d %H:%M} UTC."
    )


def refused_text(routed: TaskRouted, locale: str) -> str:
    refusal = routed.refused
    assert refusal is not None
    texts = REFUSALS.get(refusal.code)
    due = ja_date(refusal.due_date) if locale == "ja" else refusal.due_date.isoformat()
    reason = texts[locale].format(product=refusal.product, due=due) if texts else refusal.reason
    return f"能力を確認できません: {reason}" if locale == "ja" else f"Cannot be checked: {reason}"


def ja_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def ja_time(moment: datetime) -> str:
    return f"{ja_date(moment.date())} {moment:%H:%M} JST"


def crm_body(
    fmt: str, *, ref: str | None, state: str, text: str, subject: str, at: datetime
) -> dict[str, Any]:
    """The answer in the shape of the rep's CRM (``fmt``: salesforce or hubspot)."""
    if fmt == "salesforce":
        return {**salesforce_task(state), "Description": text[:32000]}
    return hubspot_note(ref, text, at)


def salesforce_task(state: str) -> dict[str, Any]:
    """The origin Task's new values: its status; the answer goes in with ``Description``."""
    closed = state in (TaskState.RESOLVED, TaskState.REJECTED)
    return {"Status": "Completed" if closed else "In Progress"}


def hubspot_note(deal_id: str | None, text: str, at: datetime) -> dict[str, Any]:
    note: dict[str, Any] = {
        "properties": {
            "hs_timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "hs_note_body": text[:65536],
        }
    }
    if deal_id:
        association = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}
        note["associations"] = [{"to": {"id": deal_id}, "types": [association]}]
    return note
