"""Salesforce Outbound Messages (SOAP 1.1) -> ``sales.note``, answered with an Ack.

A workflow rule's outbound message POSTs ``text/xml``: ``soapenv:Envelope / Body /
notifications`` (namespace ``http://soap.sforce.com/2005/09/outbound``) with
``OrganizationId``, ``ActionId``, ``SessionId``, ``EnterpriseUrl``, ``PartnerUrl`` and up to
100 ``Notification`` elements, each an ``Id`` and an ``sObject xsi:type="sf:Opportunity"``
(or ``sf:Lead``, ...) whose ``sf:`` children are the fields the rule selected. The
listener answers ``notificationsResponse / Ack = true``; anything else and Salesforce
re-sends for 24 hours
(https://developer.salesforce.com/docs/platform/api/guide/sforce-api-om-outboundmessaging-wsdl.html).

Each sObject becomes the record the JSON path reads (:mod:`salesforce`), so the same
rules apply; errors name the XML field (``Notification/0/sObject/StageName``). A body
with a DTD is refused before parsing (SOAP forbids one; no entity is ever expanded).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from services.ingest.adapters import salesforce
from services.ingest.adapters.base import AdapterContext, AdapterError, Loc, Normalised

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MEDIA_TYPE = "text/xml"
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)
ROOT: Loc = ("notifications",)


@dataclass(frozen=True)
class OutboundMessage:
    """One ``notifications`` call: who sent it and the records it carries."""

    organization_id: str
    records: list[dict[str, Any]]


def parse(raw: bytes) -> OutboundMessage:
    """The message in ``raw`` (an :class:`AdapterError` naming the element when unusable)."""
    head = raw[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in raw.lower():
        raise AdapterError.at(ROOT, "a SOAP message must not carry a DTD", "xml")
    try:
        envelope = ET.fromstring(raw)  # noqa: S314 -- no DTD (checked), so no entities
    except ET.ParseError as exc:
        raise AdapterError.at(ROOT, f"not well-formed XML: {exc}", "xml") from None
    notifications = envelope.find(f"{{{SOAP_ENV}}}Body/{{{OUTBOUND}}}notifications")
    if notifications is None:
        msg = "expected soapenv:Envelope/soapenv:Body/notifications (Salesforce outbound)"
        raise AdapterError.at(ROOT, msg, "missing")
    org = _text(notifications.find(f"{{{OUTBOUND}}}OrganizationId"))
    if not org:
        raise AdapterError.at((*ROOT, "OrganizationId"), "field required", "missing")
    found = notifications.findall(f"{{{OUTBOUND}}}Notification")
    records = [_record(n, (*ROOT, "Notification", i)) for i, n in enumerate(found)]
    if not records:
        raise AdapterError.at((*ROOT, "Notification"), "no notification", "too_short")
    return OutboundMessage(org, records)


def same_org(given: str, configured: str) -> bool:
    """Salesforce ids come as 15 characters (case-sensitive) or 18 (with a suffix)."""
    return given.strip()[:15] == configured.strip()[:15]


def adapt(message: OutboundMessage, ctx: AdapterContext) -> list[Normalised]:
    """The records as ``sales.note`` events; an error is located in the XML."""
    try:
        return salesforce.adapt(message.records, ctx)
    except AdapterError as exc:
        raise AdapterError([_relocated(error) for error in exc.errors]) from None


def _record(notification: ET.Element, loc: Loc) -> dict[str, Any]:
    sobject = notification.find(f"{{{OUTBOUND}}}sObject")
    if sobject is None:
        raise AdapterError.at((*loc, "sObject"), "field required", "missing")
    kind = (sobject.get(f"{{{XSI}}}type") or "").rpartition(":")[2]
    fields = {_local(child.tag): _value(child) for child in sobject}
    return {"attributes": {"type": kind}, **fields} if kind else fields


def _value(element: ET.Element) -> object:
    """Text, None for ``xsi:nil``, a boolean for Salesforce's ``Is...`` checkboxes."""
    if element.get(f"{{{XSI}}}nil") == "true":
        return None
    value = _text(element)
    if _local(element.tag).startswith("Is") and value in ("true", "false"):
        return value == "true"
    return value


def _text(element: ET.Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _relocated(error: dict[str, Any]) -> dict[str, Any]:
    """``body/0/StageName`` (the JSON path's) as ``notifications/Notification/0/sObject/...``."""
    loc = list(error["loc"])
    if len(loc) >= 2 and loc[0] == "body" and isinstance(loc[1], int):
        loc = [*ROOT, "Notification", loc[1], "sObject", *loc[2:]]
    elif loc and loc[0] == "body":
        loc = [*ROOT, *loc[1:]]
    return {**error, "loc": loc}
