"""``handoff deliveries ...``: callback deliveries an operator looks after."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from services.api.db import Delivery

deliveries_app = typer.Typer(
    no_args_is_help=True, help="Callback deliveries to origin tools (parked ones: retry)."
)


@deliveries_app.command("retry")
def deliveries_retry(
    delivery_ids: list[str] = typer.Argument(None, help="Parked deliveries to retry, by id."),
    source: str | None = typer.Option(
        None, help="Retry every parked delivery of this source (e.g. /sources/support)."
    ),
) -> None:
    """Retry parked deliveries now, with a fresh retry budget (by id, or all of a source)."""
    wanted = list(delivery_ids or ())
    if not wanted and source is None:
        _fail(2, "error: give delivery ids or --source / 配信 ID か --source を指定してください")
    chosen = _retry(wanted, source)
    for delivery in chosen:
        typer.echo(
            f"retrying {delivery.delivery_id} -> {delivery.url} (was: {delivery.last_error})"
        )
    typer.echo(
        f"{len(chosen)} parked deliveries retried / 保留中の配信 {len(chosen)} 件を再送します"
    )
    if missing := sorted(set(wanted) - {d.delivery_id for d in chosen}):
        _fail(1, f"error: not parked (unknown, pending or delivered) / 保留中ではありません: "
                 f"{', '.join(missing)}")  # fmt: skip


def _retry(delivery_ids: list[str], source: str | None) -> list[Delivery]:
    from services.api.clock import utc_now
    from services.api.db import make_engine
    from services.api.redeliver import retry_parked
    from services.api.settings import ApiSettings

    engine = make_engine(ApiSettings().database_url)
    try:
        return retry_parked(engine, delivery_ids=delivery_ids, source=source, now=utc_now())
    finally:
        engine.dispose()


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)
