"""The API's background parts: start and stop of the projector, deliverer and rules feed.

``lifespan`` starts what ``app.state.api.workers`` enables, puts the running
projector and deliverer on ``app.state`` (the health check looks at them), and
at shutdown stops them and closes what ``create_app`` built.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from services.api.accounts_feed import AliasPublisher
from services.api.callbacks import Deliverer, DeliveryPolicy
from services.api.consumer import PROJECTED, ProjectorConfig
from services.api.deps import ApiContext
from services.api.projector import KafkaDeadLetters, Projector
from services.api.rules import KafkaRules
from services.api.settings import ApiSettings
from services.kafka_offsets import end_offsets


@dataclass(frozen=True)
class Workers:
    """Which background parts run, and which parts the app built (and so closes)."""

    projector: bool
    deliverer: bool
    rules_feed: bool
    kafka_rules: KafkaRules
    rules_given: bool = False  # fixed rules (tests): no feed, but the health check asks them
    dead_letters: Any = None  # given: the caller closes it
    owns_engine: bool = True
    owns_publisher: bool = True


def _dead_letters(settings: ApiSettings) -> KafkaDeadLetters:
    return KafkaDeadLetters(
        settings.kafka_bootstrap, ack_timeout_s=settings.api_feedback_ack_timeout_s
    )


def start_projector(api: ApiContext) -> Projector:
    """Project ``handoff.routed`` and ``handoff.sla`` into the database, on a thread (with
    ``latest``, a new group starts at the topics' end as read before the API serves)."""
    settings = api.settings
    start_at = None
    if settings.api_offset_reset == "latest":
        start_at = end_offsets(settings.kafka_bootstrap, PROJECTED)
    config = ProjectorConfig(
        bootstrap=settings.kafka_bootstrap,
        group_id=settings.api_consumer_group,
        session_timeout_ms=settings.api_consumer_session_timeout_ms,
        heartbeat_interval_ms=max(300, settings.api_consumer_session_timeout_ms // 3),
        default_locale=settings.api_default_locale,
    )
    projector = Projector(
        api.engine,
        config,
        metrics=api.metrics,
        dead_letters=_dead_letters(settings),
        clock=api.clock,
        start_at=start_at,
    )
    projector.start()
    return projector


def delivery_policy(settings: ApiSettings) -> DeliveryPolicy:
    return DeliveryPolicy(
        max_attempts=settings.api_delivery_max_attempts,
        backoff_initial_s=settings.api_delivery_backoff_initial_s,
        backoff_max_s=settings.api_delivery_backoff_max_s,
        timeout_s=settings.api_delivery_timeout_s,
        poll_interval_s=settings.api_delivery_poll_s,
    )


def start_deliverer(api: ApiContext, dead_letters: Any) -> Deliverer:
    """Post the callbacks owed, on a thread; the undeliverable go to ``dead_letters``."""
    deliverer = Deliverer(
        api.engine,
        delivery_policy(api.settings),
        dead_letters=dead_letters,
        metrics=api.metrics,
        clock=api.clock,
    )
    deliverer.start()
    return deliverer


@dataclass(frozen=True)
class _Running:
    projector: Projector | None
    deliverer: Deliverer | None
    parked: Any  # where the deliverer parks: given, or built here (then closed here)
    aliases: AliasPublisher | None = None  # the alias map to the router (with the projector)


def start_alias_feed(api: ApiContext) -> AliasPublisher:
    """Publish the alias map (名寄せ) to ``handoff.accounts``, on a thread."""
    settings = api.settings
    feed = AliasPublisher(
        api.engine,
        settings.kafka_bootstrap,
        settings.topic_partitions,
        ack_timeout_s=settings.api_feedback_ack_timeout_s,
    )
    feed.start()
    return feed


def _start(api: ApiContext) -> _Running:
    workers = api.workers
    projector = start_projector(api) if workers.projector else None
    parked = workers.dead_letters
    deliverer = None
    if workers.deliverer:
        parked = parked if parked is not None else _dead_letters(api.settings)
        deliverer = start_deliverer(api, parked)
    if workers.rules_feed:
        workers.kafka_rules.start()
    aliases = start_alias_feed(api) if workers.projector else None
    return _Running(projector, deliverer, parked, aliases)


async def _stop(api: ApiContext, running: _Running) -> None:
    """Stop the workers (the rules feed, the deliverer, the projector), then close."""
    workers = api.workers
    if workers.rules_feed:
        await run_in_threadpool(workers.kafka_rules.stop)
    if running.deliverer is not None:
        await run_in_threadpool(running.deliverer.stop)
        if workers.dead_letters is None and running.parked is not None:
            await run_in_threadpool(running.parked.close)
    if running.projector is not None:
        await run_in_threadpool(running.projector.stop)
    if running.aliases is not None:
        await run_in_threadpool(running.aliases.stop)
    await _close(api)


async def _close(api: ApiContext) -> None:
    """Close the parts ``create_app`` built (a given publisher or engine is the caller's)."""
    if api.workers.owns_publisher:
        await run_in_threadpool(api.feedback.close)
    if api.workers.owns_engine:
        api.engine.dispose()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the enabled background parts while the app serves."""
    api: ApiContext = app.state.api
    running = _start(api)
    app.state.projector = running.projector
    app.state.deliverer = running.deliverer
    try:
        yield
    finally:
        await _stop(api, running)
