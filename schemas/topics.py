"""Every Kafka topic handoff uses. No service spells a topic name itself."""

from __future__ import annotations

import re

INGEST_SUPPORT = "handoff.ingest.support"
INGEST_SALES = "handoff.ingest.sales"
INGEST_CAPACITY = "handoff.ingest.capacity"
ROUTED = "handoff.routed"
FEEDBACK = "handoff.feedback"
SLA = "handoff.sla"
DLQ = "handoff.dlq"
TRACKER = "handoff.tracker"  # tracker webhooks -> lifecycle changes (schemas.trackers)
RULES = "handoff.rules"  # compacted: the published rule set, one record per version
ACCOUNTS = "handoff.accounts"  # compacted: the API's alias map (名寄せ), keyed by alias

# The router's own topics, one set per router app (Faust app id), like Faust's
# changelogs: ``<app id>-<suffix>``. Only that app's workers produce and consume them.
ROUTER_GROUPS = "groups"  # routing decisions, keyed by group key
ROUTER_CLOCKS = "clocks"  # SLA clock starts/stops, keyed by task id
ROUTER_ACCOUNTS = "accounts"  # account context changes, keyed by account
ROUTER_CAPACITY = "capacity"  # capacity-checked requests, keyed by product line
ROUTER_INTERNAL = (ROUTER_GROUPS, ROUTER_CLOCKS, ROUTER_ACCOUNTS, ROUTER_CAPACITY)


def router_topic(app_id: str, suffix: str) -> str:
    """An internal topic of one router app: ``handoff-router-groups``."""
    return f"{app_id}-{suffix}"


RAW_PREFIX = "handoff.raw."  # tools that already speak Kafka write raw payloads here

TEAM_PREFIX = "handoff.team."
FIXED = (INGEST_SUPPORT, INGEST_SALES, INGEST_CAPACITY, ROUTED, FEEDBACK, SLA, DLQ, TRACKER)

_TEAM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def team_topic(team: str) -> str:
    """The topic a team's tracker consumes: ``handoff.team.<team>``."""
    if not _TEAM_NAME.fullmatch(team):
        raise ValueError(f"team name {team!r} must be lowercase letters, digits and '-'")
    return TEAM_PREFIX + team


def is_valid_team(team: str) -> bool:
    return _TEAM_NAME.fullmatch(team) is not None
