"""``handoff rules publish FILE``: hot reload, without restarting a router worker."""

from __future__ import annotations

from pathlib import Path

import typer

from services.core.errors import RuleError

rules_app = typer.Typer(no_args_is_help=True, help="Publish routing rules to the router workers.")


@rules_app.command("publish")
def rules_publish(
    rules_file: Path = typer.Argument(..., help="The routing file to publish."),
    key: str | None = typer.Option(
        None, help="The rule set's key on handoff.rules (default: HANDOFF_ROUTER_RULES_KEY)."
    ),
) -> None:
    """Validate the file and publish it to handoff.rules; a file that fails to load is refused."""
    from services.router.settings import RouterSettings
    from services.rules.rules_feed import publish_rules

    settings = RouterSettings()
    try:
        rules = publish_rules(
            rules_file, settings.kafka_bootstrap, key=key or settings.router_rules_key
        )
    except RuleError as exc:
        typer.echo(f"refused, nothing published: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"published rules version {rules.version} ({len(rules.teams)} teams)")
