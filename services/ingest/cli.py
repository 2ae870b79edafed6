"""``handoff ingest FILE --source ...``: a batch import with progress, rejects and a summary."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from services.ingest.adapters.base import AdapterContext
from services.ingest.publisher import PublishError

if TYPE_CHECKING:
    from services.ingest.batch import KafkaBatchSink, Summary
    from services.ingest.settings import IngestSettings


class Source(StrEnum):
    HANDOFF = "handoff"
    ZENDESK = "zendesk"
    FRESHDESK = "freshdesk"
    SALESFORCE = "salesforce"
    HUBSPOT = "hubspot"
    CAPACITY_CSV = "capacity-csv"


FILE_ARG = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="JSON Lines or CSV")
SOURCE_OPT = typer.Option(..., "--source", "-s", help="The tool that wrote the file.")
REJECTS_OPT = typer.Option(
    None, "--rejects", help="Where rejected lines go (default: FILE.rejects.jsonl)."
)
JSON_OPT = typer.Option(False, "--json", help="Print the summary as JSON.")


def ingest_file(
    file: Path = FILE_ARG,
    source: Source = SOURCE_OPT,
    rejects: Path | None = REJECTS_OPT,
    summary_json: bool = JSON_OPT,
) -> None:
    """Import a file of a source's payloads into Kafka; re-running it is harmless."""
    from services.ingest.settings import IngestSettings

    settings = IngestSettings()
    rejects_path = rejects or file.with_name(file.name + ".rejects.jsonl")
    ctx = _context(settings, source.value)
    sink = _batch_sink(settings)
    try:
        summary = _imported(file, source.value, sink, rejects_path, ctx)
    finally:
        sink.close()
    if summary.rejected == 0:
        rejects_path.unlink(missing_ok=True)
    _report(summary, rejects_path, as_json=summary_json)
    sys.exit(1 if summary.rejected else 0)


def _context(settings: IngestSettings, source: str = "") -> AdapterContext:
    config = settings.source(source)
    return AdapterContext(
        received_at=datetime.now(UTC),
        loss_reasons=settings.ingest_loss_reasons,
        window=settings.time_window(),
        lead_statuses=settings.lead_statuses(),
        labels=config.labels if config is not None else {},  # its routing labels (16.7)
    )


def _batch_sink(settings: IngestSettings) -> KafkaBatchSink:
    """The batch sink, or exit 2 when Kafka cannot be reached."""
    from services.ingest.batch import KafkaBatchSink

    try:
        return KafkaBatchSink(settings.kafka_bootstrap, ack_timeout_s=settings.ingest_ack_timeout_s)
    except (OSError, PublishError) as exc:
        typer.echo(f"error: cannot reach Kafka at {settings.kafka_bootstrap} ({exc})", err=True)
        raise typer.Exit(2) from None


def _imported(
    file: Path, source: str, sink: KafkaBatchSink, rejects: Path, ctx: AdapterContext
) -> Summary:
    """Run the import with a progress bar; exit 2 if Kafka stops acknowledging."""
    from services.ingest import batch

    progress = _progress()
    try:
        with rejects.open("w", encoding="utf-8") as out, progress:
            advance = _advancer(progress, file.name, batch.count_records(file))
            return batch.run(file, source, sink, out, ctx=ctx, progress=advance)
    except PublishError as exc:
        typer.echo(f"error: {exc.reason}; nothing is lost: re-run the same command", err=True)
        raise typer.Exit(2) from None


def _progress() -> Progress:
    console = Console(stderr=True)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        refresh_per_second=5,
    )


def _advancer(progress: Progress, name: str, total: int) -> Callable[[int], None]:
    task = progress.add_task(name, total=total, rate="")

    def advance(n: int) -> None:
        progress.advance(task, n)
        speed = progress.tasks[0].speed
        if speed:
            progress.update(task, rate=f"{speed:,.0f} lines/s")

    return advance


def _report(summary: Summary, rejects: Path, *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
        return
    typer.echo(
        f"read {summary.read}, accepted {summary.accepted}, rejected {summary.rejected}, "
        f"duplicates {summary.duplicates}; {summary.events} events in "
        f"{summary.seconds:.1f}s = {summary.rate:,.0f} events/s"
    )
    if summary.rejected:
        typer.echo(f"rejected lines and their reasons: {rejects}")


def raw_ingest_serve() -> None:
    """Normalise what tools write to handoff.raw.<source> (Kafka-native sources).

    Serves /metrics and /healthz on HANDOFF_INGEST_RAW_HOST:HANDOFF_INGEST_RAW_PORT;
    SIGTERM finishes the batch in hand, then leaves the consumer group.
    """
    import logging
    import signal
    import threading

    from services.ingest.raw import run
    from services.ingest.settings import IngestSettings

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    settings = IngestSettings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        run(settings, stop)
