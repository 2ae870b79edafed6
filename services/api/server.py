"""``handoff serve api``: migrate the database, then serve the API (and run the projector)."""

from __future__ import annotations

import gc
from typing import Final

import uvicorn
from prometheus_client import REGISTRY

from services.api.app import create_app
from services.api.db import upgrade
from services.api.settings import ApiSettings

# Seconds ``handoff serve api`` waits for open requests at shutdown before it cancels them:
# an open dashboard holds a server-sent-event stream, which uvicorn would otherwise wait on
# until it ends by itself.
GRACEFUL_SHUTDOWN_S = 3


def serve(settings: ApiSettings) -> None:
    """Bring the schema to the newest migration, then serve until interrupted."""
    upgrade(settings.database_url)
    app = create_app(settings, registry=REGISTRY)
    quiet_collector()
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


GC_THRESHOLDS: Final = (50_000, 20, 100)  # Python's: (700, 10, 10)


def quiet_collector() -> None:
    """Fewer and shorter pauses of the garbage collector, whose full collections walk every
    object it tracks while every request waits: 95-290 ms, every few seconds under load, in
    the bench's server at a million tasks (the kept sums and deadlines are long-lived).
    What exists now (modules, the app) lives as long as the process: frozen out of them
    (``gc.freeze``). And collections start after more allocations (``GC_THRESHOLDS``): the
    bench's full collections over 30 ms went from 55 a run to 3, its figures under load
    from 3.0-3.3x /healthz to 1.9-2.1x. https://docs.python.org/3/library/gc.html"""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
