"""The ``handoff`` command."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from services.config import ServiceSettings
from services.local.kafka import KAFKA_VERSION, LocalKafka, LocalKafkaError, default_local_kafka
from services.rules.routes_cli import routes_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
kafka_app = typer.Typer(
    no_args_is_help=True, help="The local Apache Kafka broker (KRaft, one node)."
)
app.add_typer(kafka_app, name="kafka")
serve_app = typer.Typer(no_args_is_help=True, help="Run one of handoff's services.")
app.add_typer(serve_app, name="serve")
from services.api.cli import tokens_app, tracker_app  # noqa: E402

app.add_typer(tokens_app, name="tokens")
app.add_typer(tracker_app, name="tracker")
from services.api.stats_cli import stats_app  # noqa: E402

app.add_typer(stats_app, name="stats")
from services.api.deliveries_cli import deliveries_app  # noqa: E402

app.add_typer(deliveries_app, name="deliveries")
app.add_typer(routes_app, name="routes")
from services.router.rules_cli import rules_app  # noqa: E402

app.add_typer(rules_app, name="rules")
from services.api.accounts_cli import accounts_app  # noqa: E402

app.add_typer(accounts_app, name="accounts")


def local_kafka() -> LocalKafka:
    return default_local_kafka()


def _external_bootstrap() -> str | None:
    import os

    return os.environ.get("HANDOFF_KAFKA_BOOTSTRAP")


@kafka_app.command("up")
def kafka_up(timeout: float = typer.Option(120.0, help="Seconds to wait for the broker.")) -> None:
    """Start the local broker (fetching Kafka's jars once) and wait until it answers."""
    if external := _external_bootstrap():
        typer.echo(f"HANDOFF_KAFKA_BOOTSTRAP is set: using {external}, starting no broker")
        return
    try:
        address = local_kafka().up(timeout=timeout)
    except LocalKafkaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Kafka {KAFKA_VERSION} is up at {address} (logs: {local_kafka().log_file})")


@kafka_app.command("down")
def kafka_down() -> None:
    """Stop the local broker started by `handoff kafka up`."""
    stopped = local_kafka().down()
    typer.echo("Kafka stopped" if stopped else "Kafka was not running")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the local broker runs; exit 1 when it does not."""
    if external := _external_bootstrap():
        typer.echo(f"using external cluster {external} (HANDOFF_KAFKA_BOOTSTRAP)")
        return
    broker = local_kafka()
    pid = broker.pid()
    if pid is None:
        typer.echo("Kafka is not running")
        raise typer.Exit(1)
    typer.echo(f"Kafka {broker.version} running at {broker.bootstrap} (pid {pid})")


@app.command("topics")
def create_topics() -> None:
    """Create handoff's topics (and one per team in the rules) if missing."""
    from services.kafka_admin import ensure_handoff_topics
    from services.router.settings import RouterSettings
    from services.rules.rules_file import read_routing_rules as read_rules

    settings = RouterSettings()
    rules = read_rules(settings.router_rules_file)
    created = ensure_handoff_topics(
        settings.kafka_bootstrap, rules.teams, settings.topic_partitions
    )
    typer.echo(f"created: {', '.join(created) or 'nothing (all exist)'}")


@serve_app.command("ingest")
def ingest_serve() -> None:
    """Run the ingest HTTP service."""
    from services.ingest.server import serve
    from services.ingest.settings import IngestSettings

    serve(IngestSettings())


@serve_app.command("router")
def router_worker() -> None:
    """Run a router worker (Faust)."""
    from services.router.app import run_worker
    from services.router.settings import RouterSettings

    run_worker(RouterSettings())


@serve_app.command("api")
def api_serve() -> None:
    """Run the API (and its projector from Kafka into the database)."""
    from services.api.server import serve
    from services.api.settings import ApiSettings

    serve(ApiSettings())


@app.command("db-upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (Alembic) to HANDOFF_DATABASE_URL."""
    from services.api.db import upgrade
    from services.api.settings import ApiSettings

    settings = ApiSettings()
    upgrade(settings.database_url)
    typer.echo(f"database at {settings.database_url} is up to date")


@app.command("demo")
def demo(
    tickets: int = typer.Option(300, min=1, help="Sample tickets to post."),
    resolve_share: float = typer.Option(0.6, min=0.0, max=1.0, help="Share the teams answer."),
    exit_after_summary: bool = typer.Option(False, help="Stop everything after the summary."),
    summary_json: Path | None = typer.Option(None, help="Also write the summary to this file."),
) -> None:
    """Run Kafka, the three services and sample traffic; print a summary. Ctrl-C stops all."""
    from services.demo import run_demo

    sys.exit(run_demo(ServiceSettings(), tickets, resolve_share, exit_after_summary, summary_json))


from services.ingest.cli import ingest_file, raw_ingest_serve  # noqa: E402

app.command("ingest")(ingest_file)
serve_app.command("raw-ingest")(raw_ingest_serve)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
