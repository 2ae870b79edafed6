"""Routing rules: the set in force, publishing one, and asking who would get an event."""

from datetime import datetime
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from services.api.payloads.fields import UtcInstant, storable_text
from services.core.routing import Decision, Team

RULES_TEXT_MAX: Final = 256_000  # characters; a published record must stay under Kafka's 1 MB
LABELS_MAX: Final = 100

RULES_EXAMPLE: Final = """teams:
  support-triage: {department: support}
  billing: {department: engineering, escalate_to: eng-oncall}
  eng-oncall: {department: engineering}
route:
  team: support-triage
  group_by: [account]
  routes:
    - matchers: ['type="support.ticket"', 'component=~"billing-ui|invoices"']
      team: billing
"""

RulesText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=RULES_TEXT_MAX),
    AfterValidator(storable_text),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": RULES_TEXT_MAX, "pattern": r"^[^\x00]*$"}
    ),
]
RulesFileName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", max_length=128)
]
LabelName = Annotated[
    str, StringConstraints(min_length=1, max_length=128), AfterValidator(storable_text)
]
LabelValue = Annotated[str, StringConstraints(max_length=1024), AfterValidator(storable_text)]
# Pydantic would say the key constraints as patternProperties, which leave other keys open.
Labels = Annotated[
    dict[LabelName, LabelValue],
    Field(max_length=LABELS_MAX),
    WithJsonSchema(
        {
            "type": "object",
            "description": "The event's labels; an absent label is empty",
            "maxProperties": LABELS_MAX,
            "propertyNames": {"minLength": 1, "maxLength": 128, "pattern": r"^[^\x00]*$"},
            "additionalProperties": {"type": "string", "maxLength": 1024, "pattern": r"^[^\x00]*$"},
        }
    ),
]


class RulesRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"yaml": RULES_EXAMPLE, "name": "routing.yaml"}]},
    )

    yaml: RulesText = Field(
        description="The routing file (teams, route tree, ownership, calendars, SLA policies) "
        "as text, exactly as `handoff rules publish FILE` would send it"
    )
    name: RulesFileName = Field(
        default="routing.yaml", description="Its file name: errors and GET /v1/rules show it"
    )


class RulesPublishedOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"version": "3f2a9c1e4b7d", "name": "routing.yaml", "team_count": 3}]
        }
    )

    version: str = Field(description="A short sha256 of the text; the router workers report it")
    name: str
    team_count: int


class RuleTeamOut(BaseModel):
    name: str
    department: str | None
    escalate_to: str | None = Field(description="Who a breached SLA escalates to")

    @classmethod
    def of(cls, team: Team) -> "RuleTeamOut":
        return cls(name=team.name, department=team.department, escalate_to=team.escalate_to)


class RulesOut(BaseModel):
    version: str
    name: str = Field(description="The file name it was published (or read) as")
    teams: list[RuleTeamOut]
    yaml: str = Field(description="The rule file's text")


class RulesTestRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "labels": {
                        "type": "support.ticket",
                        "component": "billing-ui",
                        "priority": "urgent",
                    }
                }
            ]
        },
    )

    labels: Labels
    at: UtcInstant | None = Field(
        default=None, description="When the event was raised, for the SLA deadlines (default: now)"
    )


class RouteDecisionOut(BaseModel):
    route_id: str = Field(examples=["/0/0"])
    team: str
    department: str | None
    reason: str = Field(description="Why this team: the route (and the ownership entry)")
    sla: str | None = Field(description="The SLA policy")
    acknowledge_by: datetime | None
    resolve_by: datetime | None
    group_key: str = Field(description="Events with the same key become one task")
    escalate_to: str | None
    labels: dict[str, str] = Field(description="Labels the route adds")
    capacity: bool = Field(description="Checked against a production line's capacity first")

    @classmethod
    def of(cls, decision: Decision) -> "RouteDecisionOut":
        acknowledge_by, resolve_by = (
            decision.clocks.deadlines if decision.clocks is not None else (None, None)
        )
        return cls(
            route_id=decision.route_id,
            team=decision.team,
            department=decision.department,
            reason=decision.reason,
            sla=decision.sla,
            acknowledge_by=acknowledge_by,
            resolve_by=resolve_by,
            group_key=decision.group_key,
            escalate_to=decision.escalate_to,
            labels=dict(decision.labels),
            capacity=decision.capacity is not None,
        )


class RulesTestOut(BaseModel):
    rules_version: str
    teams: list[str] = Field(description="Who gets the event, in match order")
    routes: list[RouteDecisionOut]
