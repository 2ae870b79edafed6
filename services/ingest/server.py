"""Run the ingest service with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def serve(settings: IngestSettings) -> None:
    """Serve ingest on ``ingest_host:ingest_port`` until interrupted."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # kafka-python logs every reconnect attempt while the broker is down; ingest's
    # own warnings (one per refused event, with the reason) say what matters.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    app = create_app(settings)
    uvicorn.run(app, host=settings.ingest_host, port=settings.ingest_port, log_level="info")
