"""``handoff serve api``: migrate the database, then serve the API (and run the projector)."""

from __future__ import annotations

import gc

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


def quiet_collector() -> None:
    """What exists now (modules, the app) lives as long as the process: out of the garbage
    collector's full collections, which walk every object it tracks while every request
    waits (150 ms and more in a server at a million tasks, every few seconds under load).
    https://docs.python.org/3/library/gc.html#gc.freeze"""
    gc.collect()
    gc.freeze()
