"""Lead statuses as Salesforce and HubSpot ship them, through the configurable map.

Salesforce's standard Lead Status picklist ("Open - Not Contacted", "Working - Contacted",
"Closed - Converted", "Closed - Not Converted"; the LeadStatus object,
https://developer.salesforce.com/docs/atlas.en-us.244.0.object_reference.meta/object_reference/sforce_api_objects_leadstatus.htm)
and HubSpot's eight default ``hs_lead_status`` values (NEW, OPEN, IN_PROGRESS, OPEN_DEAL,
UNQUALIFIED, ATTEMPTED_TO_CONTACT, CONNECTED, BAD_TIMING;
as listed at https://www.default.com/post/hubspot-lead-status-lifecycle-stages and
https://revenuereveal.co/hubspot-lead-status).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.ingest.adapters import hubspot, salesforce
from services.ingest.adapters.base import AdapterError
from services.ingest.adapters.lead_statuses import lead_status_map
from services.ingest.settings import IngestSettings

from .fixtures import CTX


def sf_lead(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "attributes": {"type": "Lead", "url": "/services/data/v59.0/sobjects/Lead/00Q5g01"},
        "Id": "00Q5g000008AbCdEAF",
        "FirstName": "Hanako",
        "LastName": "Sato",
        "Company": "Acme Seiki",
        "Email": "hanako.sato@acme.co.jp",
        "Status": status,
        "LeadSource": "Web",
        "LastModifiedDate": "2026-03-02T10:00:00.000+0000",
    } | extra


def hs_contact(status: str) -> dict[str, Any]:
    return {
        "id": "301",
        "properties": {"email": "hanako.sato@acme.co.jp", "firstname": "Hanako",
                       "lifecyclestage": "lead", "hs_lead_status": status},
        "createdAt": "2026-03-01T08:00:00.000Z",
        "updatedAt": "2026-03-02T10:00:00.000Z",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        ("Open - Not Contacted", "mql"),
        ("Working - Contacted", "sql"),
        ("Closed - Converted", "opportunity"),
        ("Closed - Not Converted", "lost"),
        ("working – contacted", "sql"),  # an en dash and lower case, as a Flow may send it
    ],
)
def test_salesforce_standard_lead_statuses(status: str, stage: str) -> None:
    [out] = salesforce.adapt(sf_lead(status), CTX)
    assert out.event.data["lead_status"] == stage
    assert out.event.data["stage"] == status  # the CRM's own words are kept
    assert out.event.data["lead_source"] == "Web"
    assert out.key == "acme.co.jp"


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        ("NEW", "mql"), ("OPEN", "mql"), ("IN_PROGRESS", "sql"), ("ATTEMPTED_TO_CONTACT", "sql"),
        ("CONNECTED", "sql"), ("OPEN_DEAL", "opportunity"), ("UNQUALIFIED", "lost"),
        ("BAD_TIMING", "lost"),
    ],
)  # fmt: skip
def test_hubspot_default_lead_statuses(status: str, stage: str) -> None:
    [out] = hubspot.adapt(hs_contact(status), CTX)
    assert out.event.data["lead_status"] == stage
    assert out.event.data["stage"] == status


def test_a_converted_lead_names_its_opportunity() -> None:
    lead = sf_lead("Closed - Converted", ConvertedOpportunityId="0065g00000Qm1ZxAAJ")
    [out] = salesforce.adapt(lead, CTX)
    assert out.event.data["opportunity_id"] == "0065g00000Qm1ZxAAJ"


def test_the_map_is_configurable() -> None:
    """A picklist value of the org's own ("Nurturing") maps once configured, not before."""
    with pytest.raises(AdapterError) as caught:
        salesforce.adapt(sf_lead("Nurturing"), CTX)
    assert caught.value.errors[0]["loc"] == ["body", "Status"]
    assert "HANDOFF_INGEST_LEAD_STATUS_MAP" in caught.value.errors[0]["msg"]

    settings = IngestSettings(ingest_lead_status_map={"Nurturing": "mql"})
    ctx = replace(CTX, lead_statuses=settings.lead_statuses())
    [out] = salesforce.adapt(sf_lead("Nurturing"), ctx)
    assert out.event.data["lead_status"] == "mql"


def test_a_map_to_an_unknown_stage_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="not stages"):
        IngestSettings(ingest_lead_status_map={"Nurturing": "warm"})
    assert lead_status_map({"Working - Contacted": "mql"})["working - contacted"] == "mql"
