"""``handoff tracker consume``'s parts: the team's connectors from the rule file (or a
``--webhook``), secrets from the environment, the mapping store in the API's database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from services.api.db import make_engine, upgrade
from services.api.tracker import PrintTracker, TrackerConfig, consume
from services.api.tracker_store import TrackerStore
from services.api.tracker_sync import TeamSync
from services.connectors.base import Tracker
from services.connectors.config import TeamConnectors
from services.connectors.http import VendorHttp
from services.connectors.registry import MissingSecretError, build_chat, build_tracker
from services.connectors.webhook import WebhookTracker
from services.core.errors import RuleError
from services.rules.connectors import read_connectors


class SetupError(Exception):
    """The command line or the configuration cannot work: said in one line."""


@dataclass(frozen=True)
class TrackerOptions:
    team: str
    rules: Path | None = None
    webhook: str | None = None
    headers: Sequence[str] = ()
    auth_env: str | None = None
    dashboard_url: str | None = None
    attempts: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)


def webhook_headers(options: TrackerOptions) -> dict[str, str]:
    """``--header 'Name: value'`` (repeatable) and ``--auth-env VAR`` (a bearer token)."""
    headers: dict[str, str] = {}
    for header in options.headers:
        name, colon, value = header.partition(":")
        if not colon or not name.strip():
            shown = header.split()[0] if header.split() else ""  # never the value: a secret
            raise SetupError(f"--header {shown!r}...: write it as 'Name: value'")
        headers[name.strip()] = value.strip()
    if options.auth_env:
        token = options.env.get(options.auth_env)
        if not token:
            raise SetupError(f"--auth-env {options.auth_env}: that variable is not set")
        headers["Authorization"] = f"Bearer {token}"
    return headers


def team_connectors(options: TrackerOptions) -> TeamConnectors:
    if options.rules is None:
        return TeamConnectors(options.team)
    return read_connectors(options.rules).get(options.team, TeamConnectors(options.team))


def _tracker(options: TrackerOptions, config: TeamConnectors) -> Tracker:
    if options.webhook:
        return WebhookTracker(VendorHttp(options.webhook, webhook_headers(options)))
    if config.tracker is not None:
        return build_tracker(config.tracker, options.env)
    return PrintTracker()


def build_sync(options: TrackerOptions, engine: sa.Engine) -> TeamSync:
    """The team's sync; ``SetupError`` names what is missing (a secret, a header)."""
    config = team_connectors(options)
    try:
        tracker = _tracker(options, config)
        chats = [build_chat(spec, options.env) for spec in config.chat]
    except MissingSecretError as exc:
        raise SetupError(str(exc)) from None
    return TeamSync(
        team=options.team,
        tracker=tracker,
        store=TrackerStore(engine, options.team, tracker.kind),
        clock=lambda: datetime.now(UTC),
        chats=chats,
        language=config.language,
        dashboard_url=options.dashboard_url,
        attempts=options.attempts or config.attempts,
    )


def run(options: TrackerOptions, config: TrackerConfig, database_url: str) -> int:
    """Build the team's sync and consume; ``SetupError`` before anything is consumed."""
    try:
        upgrade(database_url)
    except sa.exc.SQLAlchemyError as exc:
        raise SetupError(f"the database is unavailable: {type(exc).__name__}") from None
    engine = make_engine(database_url)
    try:
        return consume(config, _sync(options, engine))
    finally:
        engine.dispose()


def _sync(options: TrackerOptions, engine: sa.Engine) -> TeamSync:
    try:
        return build_sync(options, engine)
    except RuleError as exc:
        raise SetupError(str(exc)) from None
