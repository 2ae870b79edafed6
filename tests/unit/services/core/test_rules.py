from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.core.errors import RuleError
from services.core.rules import load_rules, parse_duration

SLA = {"urgent": "1h", "high": "4h", "normal": "1d", "low": "3d"}
DOC: dict[str, Any] = {
    "default_team": "triage",
    "components": {"billing-ui": "billing", "Login": "identity"},
    "sla": SLA,
}
T0 = datetime(2026, 11, 20, 17, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("component", "priority", "team", "rule", "due"),
    [
        ("billing-ui", "urgent", "billing", "component:billing-ui", T0 + timedelta(hours=1)),
        ("login", "low", "identity", "component:login", T0 + timedelta(days=3)),
        ("unknown-thing", "high", "triage", "default", T0 + timedelta(hours=4)),
        (None, "normal", "triage", "default", T0 + timedelta(days=1)),
    ],
)
def test_route_picks_owner_and_deadline(
    component: str | None, priority: str, team: str, rule: str, due: datetime
) -> None:
    route = load_rules(DOC).route(component=component, priority=priority, raised_at=T0)
    assert (route.team, route.rule, route.sla_due) == (team, rule, due)


def test_teams_are_default_plus_owners() -> None:
    assert load_rules(DOC).teams == {"triage", "billing", "identity"}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be a mapping"),
        ({**DOC, "extra": 1}, "unknown keys: extra"),
        ({**DOC, "default_team": "Bad Team"}, "default_team: 'Bad Team' is not a team name"),
        ({**DOC, "components": ["x"]}, "components: must map"),
        ({**DOC, "components": {"api": "UPPER"}}, "components.api"),
        ({**DOC, "sla": {"urgent": "1h"}}, "no SLA for priority low, normal, high"),
        ({**DOC, "sla": {**SLA, "urgent": "soon"}}, "'soon' is not a duration"),
        ({**DOC, "sla": {**SLA, "critical": "1h"}}, "unknown priority critical"),
        ({"components": {}, "sla": SLA}, "default_team: None is not a team name"),
    ],
)
def test_invalid_rules_fail_at_load_with_the_key_at_fault(doc: Any, message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("(", r"\(")):
        load_rules(doc, where="rules.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)), ("4h", timedelta(hours=4)),
     ("2d", timedelta(days=2)), (" 1h ", timedelta(hours=1))],
)  # fmt: skip
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "h", "1w", "-1h", "1.5h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)
