"""The ``connectors:`` section of the rule file: each team's tracker and chat.

```yaml
connectors:
  billing:
    language: ja                 # ja or en: what the team reads
    attempts: 5                  # vendor calls per item before it is parked in handoff.dlq
    tracker: {kind: jira-cloud, url: https://acme.atlassian.net, project: BILL,
              user_env: JIRA_USER, token_env: JIRA_TOKEN}
    chat:
      - {kind: slack, url_env: SLACK_BILLING_WEBHOOK}
      - {kind: teams, url_env: TEAMS_BILLING_WEBHOOK}
```
Secrets are named by environment variable (``*_env``), never written in the
file. Validated once when the rule file loads (errors say file:line).
Pure: no I/O; the environment is read by ``registry`` when connectors are built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from services.core.errors import RuleError

LANGUAGES: Final = ("en", "ja")
# kind -> (required keys, optional keys); keys ending in _env name environment variables
TRACKERS: Final[dict[str, tuple[frozenset[str], frozenset[str]]]] = {
    "jira-cloud": (
        frozenset({"url", "project", "user_env", "token_env"}),
        frozenset({"issue_type"}),
    ),
    "jira-server": (frozenset({"url", "project", "token_env"}), frozenset({"issue_type"})),
    "github": (frozenset({"repository", "token_env"}), frozenset({"url"})),
    "backlog": (frozenset({"url", "project_id", "issue_type_id", "api_key_env"}), frozenset()),
    "webhook": (frozenset({"url"}), frozenset({"auth_env", "auth_scheme"})),
}
CHATS: Final = frozenset({"slack", "teams"})
_TEAM_KEYS: Final = frozenset({"language", "attempts", "tracker", "chat"})


@dataclass(frozen=True)
class ConnectorSpec:
    """One connector as configured: its kind and its options (secrets as env var names)."""

    kind: str
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TeamConnectors:
    team: str
    language: str = "en"
    attempts: int = 5
    tracker: ConnectorSpec | None = None
    chat: tuple[ConnectorSpec, ...] = ()


def parse_connectors(
    section: Any, teams: frozenset[str], where: str = "connectors"
) -> dict[str, TeamConnectors]:
    """Validate the section; ``RuleError`` names the key and why."""
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise RuleError(where, "must map team name -> {language, tracker, chat}")
    return {
        str(team): _team(str(team), spec, f"{where}.{team}", teams)
        for team, spec in section.items()
    }


def _team(team: str, spec: Any, where: str, teams: frozenset[str]) -> TeamConnectors:
    if team not in teams:
        raise RuleError(where, f"unknown team {team!r} (teams: {', '.join(sorted(teams))})")
    if not isinstance(spec, Mapping):
        raise RuleError(where, "must be a mapping {language, attempts, tracker, chat}")
    _no_unknown(spec, _TEAM_KEYS, where)
    language = str(spec.get("language", "en"))
    if language not in LANGUAGES:
        raise RuleError(f"{where}.language", f"{language!r} is not one of {', '.join(LANGUAGES)}")
    return TeamConnectors(
        team=team,
        language=language,
        attempts=_attempts(spec.get("attempts", 5), f"{where}.attempts"),
        tracker=_tracker(spec["tracker"], f"{where}.tracker") if "tracker" in spec else None,
        chat=_chats(spec.get("chat") or [], f"{where}.chat"),
    )


def _attempts(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100:
        raise RuleError(where, "must be a whole number from 1 to 100")
    return value


def _no_unknown(spec: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(str(k) for k in spec if k not in known)
    if unknown:
        raise RuleError(
            f"{where}.{unknown[0]}", f"unknown key (expected {', '.join(sorted(known))})"
        )


def _tracker(spec: Any, where: str) -> ConnectorSpec:
    kind = spec.get("kind") if isinstance(spec, Mapping) else None
    if kind not in TRACKERS:
        raise RuleError(f"{where}.kind", f"must be one of {', '.join(sorted(TRACKERS))}")
    required, optional = TRACKERS[kind]
    _no_unknown(spec, required | optional | {"kind"}, where)
    missing = sorted(required - set(spec))
    if missing:
        raise RuleError(f"{where}.{missing[0]}", f"required for a {kind} tracker")
    return ConnectorSpec(kind, _options(spec, where))


def _options(spec: Mapping[str, Any], where: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for key, value in spec.items():
        if key == "kind":
            continue
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise RuleError(f"{where}.{key}", f"{value!r} is not a string")
        if str(key).endswith("_env") and not str(value).isidentifier():
            raise RuleError(f"{where}.{key}", "names an environment variable, not a secret")
        options[str(key)] = str(value)
    return options


def _chats(specs: Any, where: str) -> tuple[ConnectorSpec, ...]:
    if not isinstance(specs, list):
        raise RuleError(where, "must be a list of {kind: slack|teams, url_env: VAR}")
    return tuple(_chat(spec, f"{where}[{n}]") for n, spec in enumerate(specs))


def _chat(spec: Any, where: str) -> ConnectorSpec:
    kind = spec.get("kind") if isinstance(spec, Mapping) else None
    if kind not in CHATS:
        raise RuleError(f"{where}.kind", f"must be one of {', '.join(sorted(CHATS))}")
    _no_unknown(spec, frozenset({"kind", "url_env"}), where)
    if "url_env" not in spec:
        raise RuleError(f"{where}.url_env", "the environment variable holding the webhook URL")
    return ConnectorSpec(str(kind), _options(spec, where))
