"""The HTTP API: team queues, one task, resolving it, per-team counts, latency stats.

Built by :func:`create_app` from settings and injected parts (engine,
feedback publisher, metrics registry, clock), so tests swap any of them. The
endpoints live in ``routes/`` (one router per resource), what they depend on
in ``deps.py``, error answers in ``handlers.py``, background parts in
``workers.py``.
"""

from typing import Any, Final

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI
from prometheus_client import CollectorRegistry

from services.api.clock import Clock, utc_now
from services.api.dashboard import routes as dashboard
from services.api.db import make_engine
from services.api.deps import ApiContext, storable_parameters, with_page_max
from services.api.feedback import FeedbackPublisher, KafkaFeedbackPublisher
from services.api.handlers import add_error_handlers
from services.api.metrics import ApiMetrics
from services.api.middleware import BodyLimitMiddleware, RequestMetricsMiddleware
from services.api.repository import SqlTaskRepository
from services.api.routes import (
    accounts,
    callbacks,
    capacity,
    health,
    lead_quality,
    rules,
    stats,
    tasks,
    team_webhooks,
    teams,
    tokens,
)
from services.api.rules import ApiRules, KafkaRules
from services.api.settings import ApiSettings
from services.api.workers import Workers, lifespan

ROUTERS: Final[tuple[APIRouter, ...]] = (
    teams.router,
    team_webhooks.router,
    tasks.router,
    accounts.router,
    stats.router,
    lead_quality.router,
    capacity.router,
    tokens.router,
    callbacks.router,
    rules.router,
    health.router,
    dashboard.router,  # HTML pages under /dashboard, outside the OpenAPI document
)


def create_app(
    settings: ApiSettings,
    *,
    engine: sa.Engine | None = None,
    publisher: FeedbackPublisher | None = None,
    registry: CollectorRegistry | None = None,
    start_projector: bool | None = None,
    start_deliverer: bool | None = None,
    dead_letters: Any = None,
    rules: ApiRules | None = None,
    start_rules_feed: bool | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """The API. Parts not given are built from ``settings`` (and closed at shutdown).

    The routing rules follow ``handoff.rules`` when the Kafka parts run (the
    projector's setting, or ``start_rules_feed``); given ``rules`` are used as
    they are (a fixed set in tests).
    """
    projector = settings.api_projector if start_projector is None else start_projector
    registry = registry if registry is not None else CollectorRegistry()
    metrics = ApiMetrics(registry)
    kafka_rules = KafkaRules(
        settings.kafka_bootstrap,
        key=settings.api_rules_key,
        file=settings.api_rules_file,
        publish_timeout_s=settings.api_feedback_ack_timeout_s,
        on_version=metrics.rules_in_force,
    )
    workers = Workers(
        projector=projector,
        deliverer=settings.api_delivery if start_deliverer is None else start_deliverer,
        rules_feed=rules is None and (projector if start_rules_feed is None else start_rules_feed),
        kafka_rules=kafka_rules,
        rules_given=rules is not None,
        dead_letters=dead_letters,
        owns_engine=engine is None,
        owns_publisher=publisher is None,
    )
    db = engine if engine is not None else make_engine(settings.database_url)
    metrics.watch_database(db)
    if projector:
        metrics.watch_consumer_lag(settings.kafka_bootstrap, [settings.api_consumer_group])
    api = ApiContext(
        settings=settings,
        engine=db,
        repository=SqlTaskRepository(db),
        feedback=publisher if publisher is not None else _kafka_feedback(settings),
        metrics=metrics,
        registry=registry,
        rules=rules if rules is not None else kafka_rules,
        clock=clock,
        workers=workers,
    )
    return _app(api)


def _kafka_feedback(settings: ApiSettings) -> KafkaFeedbackPublisher:
    return KafkaFeedbackPublisher(
        settings.kafka_bootstrap, ack_timeout_s=settings.api_feedback_ack_timeout_s
    )


def _app(api: ApiContext) -> FastAPI:
    """The FastAPI app over ``api``: its routers, middleware, error answers and lifespan."""
    app = FastAPI(
        title="handoff API",
        version="1",
        summary="Team queues of routed tasks, their lifecycle, answers sent back to the asker, "
        "and how long askers wait.",
        description="Authenticate with `Authorization: Bearer <token>` "
        "(`handoff tokens create --team T [--scope read|write]`). A team token sees only its "
        "team's tasks; another team's task is a 404.",
        lifespan=lifespan,
        dependencies=[Depends(storable_parameters)],
    )
    app.state.api = api
    app.state.projector = None
    app.state.deliverer = None
    app.state.metrics = api.metrics
    app.add_middleware(RequestMetricsMiddleware, metrics=api.metrics)
    app.add_middleware(BodyLimitMiddleware, max_bytes=api.settings.api_max_body_bytes)
    add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(with_page_max(router, api.page_max))
    return app
