"""``handoff rules publish FILE``: hot reload, without restarting a router worker."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from kafka.errors import KafkaError

from services.core.errors import RuleError

rules_app = typer.Typer(no_args_is_help=True, help="Publish routing rules to the router workers.")


@rules_app.command("publish")
def rules_publish(
    rules_file: Path = typer.Argument(..., help="The routing file to publish."),
    key: str | None = typer.Option(
        None, help="The rule set's key on handoff.rules (default: HANDOFF_ROUTER_RULES_KEY)."
    ),
    bootstrap: str | None = typer.Option(
        None, help="The Kafka cluster (default: HANDOFF_KAFKA_BOOTSTRAP)."
    ),
    timeout: float = typer.Option(30.0, min=0.1, help="Seconds to wait for the broker."),
) -> None:
    """Validate the file and publish it to handoff.rules; a file that fails to load is refused."""
    from services.router.settings import RouterSettings
    from services.rules.rules_feed import publish_rules_text, read_rule_set

    settings = RouterSettings()
    bootstrap = bootstrap or settings.kafka_bootstrap
    try:
        text = read_rule_set(rules_file).text
        rules = publish_rules_text(
            text, bootstrap, name=str(rules_file), key=key or settings.router_rules_key,
            base=rules_file.parent, timeout_s=timeout,
        )  # fmt: skip
    except RuleError as exc:
        failure = f"refused, nothing published: {exc}"
    except KafkaError as exc:
        failure = (f"error: nothing published: no broker took it at {bootstrap} "
                   f"within {timeout:g}s ({_why(exc)})")  # fmt: skip
    else:
        typer.echo(f"published rules version {rules.version} ({len(rules.teams)} teams)")
        return
    _fail(failure)  # outside the except: the Kafka client's traceback is not kept alive


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _why(exc: Exception) -> str:
    text, name = str(exc), type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}"
