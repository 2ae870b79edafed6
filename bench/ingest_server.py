"""The ingest service as ``handoff serve ingest`` runs it, plus a no-op route: the bench's baseline.

``python -m bench.ingest_server PORT`` serves ``services.ingest.app.create_app`` with the
settings from the environment (its Kafka publisher, acks=all) and adds ``POST /bench/noop``,
which reads the body and answers 202 without touching Kafka. Both run in the same process,
behind the same middleware, on the same uvicorn: their ratio is what ingest's own work costs.
"""

from __future__ import annotations

import logging
import sys

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings

NOOP_PATH = "/bench/noop"


def app_with_noop(settings: IngestSettings) -> FastAPI:
    """The real ingest app with one more route that does nothing but read the body."""
    app = create_app(settings)

    async def noop(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"accepted": True}, status_code=202)

    app.add_api_route(NOOP_PATH, noop, methods=["POST"], include_in_schema=False)
    return app


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    app = app_with_noop(IngestSettings())
    uvicorn.run(app, host="127.0.0.1", port=int(args[0]), log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
