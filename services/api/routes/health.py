"""``/healthz``, ``/readyz`` and ``/metrics``: is every part up, can the API do its job now,
and the Prometheus metrics."""

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.api.deps import Api, ApiContext
from services.api.payloads.health import HealthOut, ReadyOut

router = APIRouter()


@router.get(
    "/healthz",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "A part failed"}},
    summary="Database reachable, projector, deliverer and rules feed running (when enabled)",
)
def healthz(request: Request, api: Api) -> JSONResponse:
    checks = {"database": _database(api)}
    for part, enabled in (
        ("projector", api.workers.projector),
        ("deliverer", api.workers.deliverer),
    ):
        checks[part] = _worker(request, part) if enabled else "disabled"
    checks["rules"] = _rules(api)
    healthy = all(v in ("ok", "disabled") for v in checks.values())
    body = HealthOut(status="ok" if healthy else "failing", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


def _worker(request: Request, part: str) -> str:
    """Whether the worker the lifespan started (on ``app.state``) still runs."""
    worker = getattr(request.app.state, part)
    return _running(worker is not None and worker.is_alive())


def _running(alive: bool) -> str:
    return "ok" if alive else "not running"


def _database(api: ApiContext) -> str:
    try:
        api.repository.ping()
    except sa.exc.SQLAlchemyError as exc:
        return f"unreachable: {type(exc).__name__}"
    return "ok"


def _rules(api: ApiContext) -> str:
    """Fixed rules (tests) or a running feed are checked; no feed and no rules: disabled."""
    if api.workers.rules_given or api.workers.rules_feed:
        return _running(api.rules.is_alive())
    return "disabled"


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "A part is not ready"}},
    summary="Ready: the database answers, and the projector (when enabled) consumes",
)
def readyz(request: Request, api: Api) -> JSONResponse:
    checks = {"database": _database(api), "projector": "disabled"}
    if api.workers.projector:
        checks["projector"] = _consuming(request, api.settings.api_ready_projector_s)
    ready = all(v in ("ok", "disabled") for v in checks.values())
    body = ReadyOut(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def _consuming(request: Request, within_s: float) -> str:
    """Whether the projector runs and polled successfully within ``within_s`` seconds."""
    projector = request.app.state.projector
    if projector is None or not projector.is_alive():
        return "not running"
    ago = projector.polled_ago()
    if ago is None:
        return "no successful poll yet"
    return "ok" if ago <= within_s else f"no successful poll for {ago:.0f} s"


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics (text exposition format)",
)
def prometheus_metrics(api: Api) -> PlainTextResponse:
    return PlainTextResponse(generate_latest(api.registry), media_type=CONTENT_TYPE_LATEST)
