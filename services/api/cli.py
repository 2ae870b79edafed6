"""``handoff tokens ...`` and ``handoff tracker ...``: API tokens and team trackers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from services.api.settings import ApiSettings

tokens_app = typer.Typer(no_args_is_help=True, help="API tokens (stored hashed, shown once).")
tracker_app = typer.Typer(no_args_is_help=True, help="Team trackers fed from handoff.team.<team>.")


@tokens_app.command("create")
def tokens_create(
    team: str | None = typer.Option(None, help="The team the token belongs to."),
    scope: str = typer.Option("read", help="read or write (team tokens)."),
    admin: bool = typer.Option(False, "--admin", help="An admin token (no team)."),
    name: str = typer.Option("cli", help="A label to recognise the token by."),
    rules: Path | None = typer.Option(
        None,
        help="The rule file whose teams a --team must be one of (default: the rule set "
        "published under HANDOFF_API_RULES_KEY, else HANDOFF_API_RULES_FILE).",
    ),
    timeout: float = typer.Option(3.0, min=0.1, help="Seconds to wait for the broker."),
) -> None:
    """Create a token and print it (only this once); a team must be one of the rules' teams."""
    from schemas import topics
    from services.api import auth
    from services.api.clock import utc_now
    from services.api.db import make_engine, upgrade
    from services.api.settings import ApiSettings

    if admin == (team is not None):
        typer.echo("error: give either --team T or --admin", err=True)
        raise typer.Exit(2)
    if team is not None and not topics.is_valid_team(team):
        typer.echo(f"error: {team!r} is not a team name", err=True)
        raise typer.Exit(2)
    if not admin and scope not in ("read", "write"):
        typer.echo("error: --scope is read or write", err=True)
        raise typer.Exit(2)
    settings = ApiSettings()
    if team is not None:
        _refuse_unknown_team(team, settings, rules, timeout)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        new = auth.create_token(
            engine,
            team=team,
            scope="admin" if admin else ("write" if scope == "write" else "read"),
            name=name,
            now=utc_now(),
        )
    finally:
        engine.dispose()
    typer.echo(f"token {new.token_id} ({new.scope}{', team ' + team if team else ''}):", err=True)
    typer.echo(new.token)
    typer.echo("It is shown only now; store it safely.", err=True)


def _refuse_unknown_team(
    team: str, settings: ApiSettings, rules: Path | None, timeout: float
) -> None:
    """Exit 2, listing the known teams, unless ``team`` is a team of the rules in force."""
    from services.api.rules import unknown_team
    from services.rules.routes_cli import rules_in_force

    in_force = rules_in_force(
        rules, settings.kafka_bootstrap, settings.api_rules_key, timeout,
        default_file=settings.api_rules_file,
    )  # fmt: skip
    reason = unknown_team(team, in_force)
    if reason is not None:
        typer.echo(f"error: no token created: {reason}", err=True)
        raise typer.Exit(2)


@tokens_app.command("list")
def tokens_list() -> None:
    """List tokens (never the tokens themselves)."""
    from services.api import auth
    from services.api.db import make_engine
    from services.api.settings import ApiSettings

    engine = make_engine(ApiSettings().database_url)
    try:
        for t in auth.list_tokens(engine):
            revoked = f" revoked {t.revoked_at.isoformat()}" if t.revoked_at else ""
            typer.echo(f"{t.token_id}  {t.scope:5}  {t.team or '(admin)'}  {t.name}{revoked}")
    finally:
        engine.dispose()


@tokens_app.command("revoke")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by its id."""
    from services.api import auth
    from services.api.clock import utc_now
    from services.api.db import make_engine
    from services.api.settings import ApiSettings

    engine = make_engine(ApiSettings().database_url)
    try:
        if not auth.revoke_token(engine, token_id, utc_now()):
            typer.echo(f"error: no token {token_id}", err=True)
            raise typer.Exit(1)
    finally:
        engine.dispose()
    typer.echo(f"token {token_id} revoked")


@tracker_app.command("consume")
def tracker_consume(
    team: str = typer.Option(..., help="The team whose topic to consume."),
    webhook: str | None = typer.Option(
        None, help="Forward each task here (POST JSON: one 'opened' item per task, then updates)."
    ),
    header: list[str] = typer.Option(
        [], "--header", help="A header for --webhook, 'Name: value' (repeatable)."
    ),
    auth_env: str | None = typer.Option(
        None, help="For --webhook: send 'Authorization: Bearer $VAR' (the secret stays in VAR)."
    ),
    rules: Path | None = typer.Option(
        None,
        help="The rule file whose connectors: section names the team's tracker and chat "
        "(default HANDOFF_API_RULES_FILE).",
    ),
    dashboard_url: str | None = typer.Option(None, help="handoff's URL, linked from each issue."),
    attempts: int | None = typer.Option(None, min=1, help="Vendor calls before parking in DLQ."),
    group: str | None = typer.Option(None, help="Consumer group (default handoff-tracker-<team>)."),
    idle_exit: float | None = typer.Option(None, help="Stop after this many idle seconds."),
    max_messages: int | None = typer.Option(None, help="Stop after this many messages."),
) -> None:
    """Keep the team's tracker and chat in step: one issue per task, then updates of it."""
    import os

    from schemas import topics
    from services.api.settings import ApiSettings
    from services.api.tracker import TrackerConfig
    from services.api.tracker_setup import SetupError, TrackerOptions, run

    if not topics.is_valid_team(team):
        typer.echo(f"error: {team!r} is not a team name", err=True)
        raise typer.Exit(2)
    settings = ApiSettings()
    options = TrackerOptions(
        team=team, rules=rules or _rules_file(settings), webhook=webhook, headers=header,
        auth_env=auth_env, dashboard_url=dashboard_url, attempts=attempts, env=dict(os.environ),
    )  # fmt: skip
    config = TrackerConfig(
        bootstrap=settings.kafka_bootstrap,
        team=team,
        group_id=group or f"handoff-tracker-{team}",
        idle_exit_s=idle_exit,
        max_messages=max_messages,
    )
    try:
        count = run(options, config, settings.database_url)
    except SetupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{count} message(s) handled", err=True)


def _rules_file(settings: ApiSettings) -> Path | None:
    """The configured rule file, when it exists (its connectors: section is optional)."""
    path = Path(settings.api_rules_file) if settings.api_rules_file else None
    return path if path is not None and path.is_file() else None


@tracker_app.command("apply")
def tracker_apply(
    idle_exit: float | None = typer.Option(None, help="Stop after this many idle seconds."),
    group: str = typer.Option("handoff-tracker-apply", help="Consumer group."),
) -> None:
    """Apply the trackers' webhooks (handoff.tracker) to the tasks: close, reopen, comment."""
    from services.api.db import make_engine, upgrade
    from services.api.feedback import KafkaFeedbackPublisher
    from services.api.settings import ApiSettings
    from services.api.tracker_apply import Applier, ApplyConfig, run_applier

    settings = ApiSettings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    publisher = KafkaFeedbackPublisher(settings.kafka_bootstrap)
    config = ApplyConfig(bootstrap=settings.kafka_bootstrap, group_id=group, idle_exit_s=idle_exit)
    try:
        count = run_applier(config, Applier(engine, publisher))
    finally:
        publisher.close()
        engine.dispose()
    typer.echo(f"{count} tracker change(s) handled", err=True)
