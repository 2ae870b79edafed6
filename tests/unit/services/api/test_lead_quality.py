"""Lead quality (pure): the hand-computed table of lead_quality_data, and its edge cases."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from services.api.lead_quality import GroupBy, LeadQuality, OutcomeRecord, journeys, lead_quality

from .lead_quality_data import EXPECTED, RECORDS, SINCE, TOTAL, UNTIL

FIELDS = OutcomeRecord.__dataclass_fields__


def records() -> list[OutcomeRecord]:
    return [OutcomeRecord(**{k: v for k, v in r.items() if k in FIELDS}) for r in RECORDS]


def shown(figures: LeadQuality) -> dict[str, Any]:
    out = {k: v for k, v in asdict(figures).items() if k != "times_to_outcome_s"}
    return out | {
        "opportunity_rate": figures.opportunity_rate,
        "median_time_to_outcome_s": figures.median_time_to_outcome_s,
    }


@pytest.mark.parametrize("by", ["source", "campaign", "account"])
def test_the_figures_are_the_hand_computed_ones(by: GroupBy) -> None:
    groups, total = lead_quality(records(), since=SINCE, until=UNTIL, by=by)
    assert [shown(g) for g in groups] == EXPECTED[by]
    assert shown(total) == TOTAL


def test_a_lead_converted_into_an_opportunity_is_one_journey_with_the_deal() -> None:
    found = {tuple(r.event_id for r in j.records) for j in journeys(records())}
    assert ("e1", "e2", "e3") in found  # lead 00QA1 -> opportunity 006A1 -> won
    assert ("e11", "e12", "e13") in found  # HubSpot contact 301 -> deal 900 -> lost
    assert ("e17",) in found  # a deal with no lead stays alone (and is no lead)


def test_an_empty_window_has_no_rate() -> None:
    groups, total = lead_quality([], since=SINCE, until=UNTIL, by="source")
    assert (groups, total.leads, total.opportunity_rate) == ([], 0, None)
