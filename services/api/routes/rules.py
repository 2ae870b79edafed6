"""``/v1/rules``: the routing rules in force, who would get an event; publishing (admin)."""

import logging
from typing import Any, Final

from fastapi import APIRouter

from services.api.deps import Admin, Api, Reader
from services.api.errors import BadActionError
from services.api.payloads.errors import AUTH_ERRORS, INVALID_INPUT, ErrorOut
from services.api.payloads.rules import (
    RouteDecisionOut,
    RulesOut,
    RulesPublishedOut,
    RulesRequest,
    RulesTestOut,
    RulesTestRequest,
    RuleTeamOut,
)
from services.api.rules import ApiRules, RulesUnavailableError
from services.core.errors import RuleError
from services.rules.rules_feed import RuleSet

log = logging.getLogger(__name__)

router = APIRouter()

NO_RULES: Final[dict[int | str, dict[str, Any]]] = {
    503: {"model": ErrorOut, "description": "No rule set known yet"}
}


def rule_set_in_force(rules: ApiRules) -> RuleSet:
    """The rule set the routers use; 503 while this API knows none."""
    found = rules.rule_set
    if found is None:
        raise RulesUnavailableError(
            "no routing rules are known to this API yet (it follows handoff.rules while its "
            "Kafka parts run; with them off it knows none)"
        )
    return found


@router.get(
    "/v1/rules",
    response_model=RulesOut,
    responses={**AUTH_ERRORS, **NO_RULES},
    summary="The routing rules in force: version, teams and the rule file's text",
)
def get_rules(principal: Reader, api: Api) -> RulesOut:
    found = rule_set_in_force(api.rules)
    teams = sorted(found.rules.teams.values(), key=lambda t: t.name)
    return RulesOut(
        version=found.version,
        name=found.name,
        teams=[RuleTeamOut.of(t) for t in teams],
        yaml=found.text,
    )


@router.post(
    "/v1/rules/test",
    response_model=RulesTestOut,
    responses={**AUTH_ERRORS, **INVALID_INPUT, **NO_RULES},
    summary="Who would get an event with these labels (as `handoff routes test --json`)",
)
def rules_test(principal: Reader, api: Api, body: RulesTestRequest) -> RulesTestOut:
    found = rule_set_in_force(api.rules)
    try:
        decisions = found.rules.decide(body.labels, body.at or api.clock())
    except OverflowError:
        raise BadActionError("body.at", "too far in time to compute SLA deadlines") from None
    return RulesTestOut(
        rules_version=found.version,
        teams=[d.team for d in decisions],
        routes=[RouteDecisionOut.of(d) for d in decisions],
    )


@router.put(
    "/v1/admin/rules",
    response_model=RulesPublishedOut,
    responses={
        **AUTH_ERRORS,
        **INVALID_INPUT,
        413: {"model": ErrorOut, "description": "Body over the size limit"},
        503: {"model": ErrorOut, "description": "The broker did not acknowledge; retry"},
    },
    summary="Validate and publish routing rules; router workers take them without a restart",
    description="A rule file that does not load is a 422 naming the line "
    "(`routing.yaml:12: ...`) and nothing is published. Publishing the same text again "
    "is harmless: it is the same version.",
)
def put_rules(principal: Admin, api: Api, body: RulesRequest) -> RulesPublishedOut:
    try:
        published = api.rules.publish(body.yaml, name=body.name)
    except RuleError as exc:
        raise BadActionError("body.yaml", str(exc)) from None
    log.info("rules version %s published by %s", published.version, principal.name)
    return RulesPublishedOut(
        version=published.version, name=body.name, team_count=len(published.teams)
    )
