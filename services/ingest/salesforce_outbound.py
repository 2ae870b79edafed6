"""``POST /v1/sources/salesforce/outbound``: Salesforce Outbound Messages (SOAP), acknowledged.

Salesforce's outbound messages cannot be signed; its documented check is the sending
organisation: ``HANDOFF_INGEST_SALESFORCE_ORG_ID`` names the org whose messages are
accepted (unset, every message is refused), and a message from another org is a 403
naming ``OrganizationId``. A message is acknowledged (``<Ack>true</Ack>``, 200) only once
Kafka acknowledged its events; a refusal is a SOAP Fault with the 4xx (or the 503 and
``Retry-After``), so Salesforce's outbound queue shows the reason and re-sends later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from fastapi import FastAPI, Request
from fastapi.responses import Response

from services.ingest.adapters import salesforce_soap
from services.ingest.adapters.base import AdapterError, Normalised
from services.ingest.bodies import RequestRejectedError, read_body

if TYPE_CHECKING:
    from services.ingest.app import Ingest

PATH = "/v1/sources/salesforce/outbound"
SOURCE = "salesforce"
SUMMARY = "A Salesforce Outbound Message (SOAP notifications), answered with an Ack"
ORG_ENV = "HANDOFF_INGEST_SALESFORCE_ORG_ID"


def add_route(app: FastAPI, ingest: Ingest) -> None:
    async def receive_outbound_message(request: Request) -> Response:
        try:
            await receive(ingest, request)
        except RequestRejectedError as rejected:
            ingest.metrics.count(SOURCE, rejected.outcome)
            return fault(rejected)
        ingest.metrics.count(SOURCE, "accepted")
        return Response(salesforce_soap.ACK, media_type=salesforce_soap.MEDIA_TYPE)

    body = {"content": {salesforce_soap.MEDIA_TYPE: {"schema": {"type": "string"}}}}
    doc = {"requestBody": {"required": True, **body}}
    app.post(PATH, summary=SUMMARY, openapi_extra=doc)(receive_outbound_message)


async def receive(ingest: Ingest, request: Request) -> list[Normalised]:
    raw = await read_body(request, ingest.settings.ingest_max_body_bytes, "text/xml")
    try:
        message = salesforce_soap.parse(raw)
        check_org(message.organization_id, ingest.settings.ingest_salesforce_org_id)
        outs = salesforce_soap.adapt(message, ingest.context(SOURCE))
    except AdapterError as exc:
        raise RequestRejectedError.unusable(exc) from None
    await ingest.publish_all(outs)
    return outs


def check_org(given: str, configured: str | None) -> None:
    """Refuse a message unless it comes from the configured organisation."""
    if configured is None:
        detail = f"no Salesforce organisation configured; set {ORG_ENV}"
        raise RequestRejectedError(401, "unauthorized", detail)
    if not salesforce_soap.same_org(given, configured):
        detail = f"notifications.OrganizationId {given!r} is not the configured organisation"
        raise RequestRejectedError(403, "unauthorized", detail)


def fault(rejected: RequestRejectedError) -> Response:
    """A SOAP 1.1 Fault carrying the refusal (Salesforce shows faultstring in its queue)."""
    code = "soapenv:Server" if rejected.status >= 500 else "soapenv:Client"
    text = rejected.detail if isinstance(rejected.detail, str) else _errors(rejected.detail)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{salesforce_soap.SOAP_ENV}"><soapenv:Body>'
        f"<soapenv:Fault><faultcode>{code}</faultcode>"
        f"<faultstring>{escape(text)}</faultstring></soapenv:Fault>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    return Response(
        body,
        status_code=rejected.status,
        media_type=salesforce_soap.MEDIA_TYPE,
        headers=rejected.headers,
    )


def _errors(errors: list[dict[str, Any]]) -> str:
    return "; ".join(_error(error) for error in errors)


def _error(error: dict[str, Any]) -> str:
    where = "/".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}"
