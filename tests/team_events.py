"""Routed tasks and SLA signals on a team's topics, as the router publishes them: what the
tracker and chat tests feed ``handoff tracker consume``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import KafkaProducer

from schemas.events import Priority, TaskRouted, derived_id, envelope

RAISED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def routed_task(team: str, n: int, **changes: Any) -> TaskRouted:
    """The ``n``-th billing task of ``team`` (a Japanese Zendesk ticket), with ``changes``."""
    routed = TaskRouted(
        task_id=derived_id("task", team, str(n)),
        source_event_id=f"{team}-{n}",
        source="/sources/zendesk",
        team=team,
        rule="component:billing-ui",
        account="example.co.jp",
        priority=Priority.HIGH,
        component="billing-ui",
        subject=f"請求書の画面がわかりにくい #{n}",
        description="請求書のダウンロードボタンが見つかりません。",
        requester_email="taro@example.co.jp",
        raised_at=RAISED,
        routed_at=RAISED,
        sla_due=RAISED + timedelta(hours=4),
        acknowledge_by=RAISED + timedelta(hours=4),
        resolve_by=RAISED + timedelta(hours=24),
    )
    return routed.model_copy(update=changes)


def publish(bootstrap: str, events: list[tuple[str, str, Any]]) -> None:
    """Each (topic, type, data) as a router event, acknowledged before the next."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for topic, type_, data in events:
            event = envelope(
                type_=type_,
                source="/handoff/router",
                data=data,
                time=RAISED,
                event_id=str(uuid.uuid4()),
            )
            producer.send(topic, key=b"example.co.jp", value=event.to_bytes()).get(10)
    finally:
        producer.close()
