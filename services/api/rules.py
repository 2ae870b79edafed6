"""The routing rules as the API sees them: the set in force, and publishing a new one.

``KafkaRules`` holds the newest rule set published on ``handoff.rules`` under
the deployment's key, else the one in the API's rule file, and follows the
topic with the router's own ``RulesFeed``: what ``GET /v1/rules`` shows is
what the router workers route with. Until the feed has read the topic to its
end (or when it is not started: Kafka parts disabled) no rule set is known,
and the API says so rather than guess. Publishing goes through
``publish_rules_text``, as ``handoff rules publish`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from kafka.errors import KafkaError

from services.core.errors import HandoffError, RuleError
from services.core.routing import RoutingRules
from services.rules.rules_feed import RuleSet, RulesFeed, publish_rules_text, read_rule_set

log = logging.getLogger(__name__)


class RulesUnavailableError(HandoffError):
    """No rule set is known, or the broker did not take a new one (HTTP 503, retry later)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ApiRules(Protocol):
    """The rule set in force as the API knows it (None: not known), and how to publish one."""

    @property
    def rule_set(self) -> RuleSet | None: ...

    @property
    def current(self) -> RoutingRules | None: ...

    def teams(self) -> tuple[str, ...] | None: ...

    def publish(self, text: str, *, name: str) -> RoutingRules: ...

    def is_alive(self) -> bool: ...


def unknown_team(team: str, rules: RoutingRules | None) -> str | None:
    """Why ``team`` cannot take a task (the 422 reason); None if the rules know it, or when
    no rules are known (then any team is accepted)."""
    if rules is None or team in rules.teams:
        return None
    known = ", ".join(sorted(rules.teams))
    return (
        f"{team!r} is not a team of the routing rules (version {rules.version}): use one of {known}"
    )


class KafkaRules:
    """The newest rule set on ``handoff.rules`` under ``key``, else the file's; publishes."""

    def __init__(
        self,
        bootstrap: str,
        *,
        key: str,
        file: Path,
        publish_timeout_s: float,
        on_version: Callable[[str], None] | None = None,
    ) -> None:
        self._on_version = on_version  # told each version that comes into force
        self._bootstrap = bootstrap
        self._key = key
        self._file = file
        self._timeout_s = publish_timeout_s
        self._from_file: RuleSet | None = None
        self._published: RuleSet | None = None
        self._feed: RulesFeed | None = None

    @property
    def rule_set(self) -> RuleSet | None:
        feed = self._feed
        if feed is None or not feed.caught_up.is_set():
            return None
        return self._published or self._from_file

    @property
    def current(self) -> RoutingRules | None:
        found = self.rule_set
        return found.rules if found is not None else None

    def teams(self) -> tuple[str, ...] | None:
        rules = self.current
        return tuple(sorted(rules.teams)) if rules is not None else None

    def take(self, rule_set: RuleSet) -> bool:
        """The feed's hand-over: a published set replaces the one in force (a reference swap)."""
        if self._published is not None and self._published.version == rule_set.version:
            return False
        self._published = rule_set
        self._in_force(rule_set)
        return True

    def _in_force(self, rule_set: RuleSet | None) -> None:
        if rule_set is not None and self._on_version is not None:
            self._on_version(rule_set.rules.version)

    def publish(self, text: str, *, name: str) -> RoutingRules:
        """Validate and publish; ``RuleError`` if it does not load, ``RulesUnavailableError``
        if the broker did not acknowledge it."""
        try:
            return publish_rules_text(
                text, self._bootstrap, name=name, key=self._key, timeout_s=self._timeout_s
            )
        except KafkaError as exc:
            raise RulesUnavailableError(
                f"the rule set could not be published: no acknowledgement ({exc!r})"
            ) from exc

    def start(self) -> None:
        """Load the file (a file that does not load is logged: published sets only), follow."""
        try:
            self._from_file = read_rule_set(self._file)
        except RuleError as exc:
            log.error("api rules: the rule file is refused, only published sets count: %s", exc)
            self._from_file = None
        self._published = None
        self._in_force(self._from_file)
        self._feed = RulesFeed(self._bootstrap, self, key=self._key)
        self._feed.start()

    def is_alive(self) -> bool:
        return self._feed is not None and self._feed.is_alive()

    def stop(self) -> None:
        feed, self._feed = self._feed, None
        if feed is not None:
            feed.stop()
