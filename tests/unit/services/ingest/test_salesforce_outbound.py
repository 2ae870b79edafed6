"""Salesforce Outbound Messages over HTTP: the org id check, the Ack, faults naming the XML.

The message is tests/fixtures/ingest/salesforce_outbound_opportunity.xml, written from the
outbound messaging WSDL (notifications / OrganizationId / Notification / sObject
xsi:type="sf:Opportunity"), and the answer Salesforce needs is its notificationsResponse
with <Ack>true</Ack>
(https://developer.salesforce.com/docs/platform/api/guide/sforce-api-om-outboundmessaging-wsdl.html).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from schemas.events import SalesNote

from .adapters.fixtures import FIXTURES
from .endpoints import make_ingest

PATH = "/v1/sources/salesforce/outbound"
ORG = "00D5g000004SqHqEAK"
XML = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
ACK_PATH = (
    "{http://schemas.xmlsoap.org/soap/envelope/}Body/"
    "{http://soap.sforce.com/2005/09/outbound}notificationsResponse/"
    "{http://soap.sforce.com/2005/09/outbound}Ack"
)


def message() -> bytes:
    return (FIXTURES / "salesforce_outbound_opportunity.xml").read_bytes()


def post(body: bytes, **settings: Any) -> Any:
    ingest = make_ingest(**({"ingest_salesforce_org_id": ORG} | settings))
    return ingest, ingest.client.post(PATH, content=body, headers=XML)


def test_a_lost_opportunity_is_acknowledged_and_keeps_the_reps_words() -> None:
    ingest, response = post(message())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert ET.fromstring(response.content).findtext(ACK_PATH) == "true"
    [event] = ingest.events()
    note = SalesNote.model_validate(event.data)
    assert note.intent == "deal_lost"
    assert note.loss_reason == "other"
    assert note.loss_reason_text == "納期が合わない"
    assert (note.amount, note.currency, note.stage) == (1250000.0, "JPY", "Closed Lost")
    assert note.opportunity_id == "0065g00000Qm1ZxAAJ"
    assert note.lead_source == "Trade Show"
    assert ingest.publisher.published[0][1] == b"crm:0015g00000XyZ12AAB"


def test_a_resent_message_is_the_same_event() -> None:
    ingest, _ = post(message())
    again, _ = post(message())
    assert ingest.events()[0].id == again.events()[0].id


def test_the_15_character_org_id_is_the_same_org() -> None:
    _, response = post(message(), ingest_salesforce_org_id=ORG[:15])
    assert response.status_code == 200


def test_another_org_is_refused_with_a_fault_naming_organization_id() -> None:
    ingest, response = post(message(), ingest_salesforce_org_id="00D000000000001AAA")
    assert response.status_code == 403
    assert "OrganizationId" in response.text
    assert "<faultcode>soapenv:Client</faultcode>" in response.text
    assert ingest.publisher.published == []


def test_without_a_configured_org_every_message_is_refused() -> None:
    ingest, response = post(message(), ingest_salesforce_org_id=None)
    assert response.status_code == 401
    assert "HANDOFF_INGEST_SALESFORCE_ORG_ID" in response.text
    assert ingest.publisher.published == []


def test_a_bad_field_is_a_422_naming_the_xml_element() -> None:
    body = message().replace(b"<sf:Amount>1250000.0</sf:Amount>", b"<sf:Amount>lots</sf:Amount>")
    _, response = post(body)
    assert response.status_code == 422
    assert "notifications/Notification/0/sObject/Amount" in response.text


def test_a_dtd_is_refused_before_parsing() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
        b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'/>"
    )
    _, response = post(bomb)
    assert response.status_code == 422
    assert "DTD" in response.text


def test_json_is_415() -> None:
    ingest = make_ingest(ingest_salesforce_org_id=ORG)
    response = ingest.client.post(PATH, json={"a": 1})
    assert response.status_code == 415
