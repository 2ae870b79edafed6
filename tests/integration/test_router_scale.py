"""Two router workers in one consumer group: 10,000 mixed events, none lost, none routed twice.

Its own rules (teams ``bulk-*``); each event causes exactly one ``task.routed``
(the task it opened, or the update of the task it joined). The workers start
at the latest offsets (only this test's events, not the session's backlog).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from schemas import topics
from services.local.kafka import free_port
from tests.integration.router_process import (
    Producer,
    cloud_event,
    routed_ids,
    router_env,
    running_router,
    unique,
    warm_up,
    write_rules,
)
from tests.processes import read_topic

EVENTS = 10_000
BULK_RULES = """
teams: {bulk-triage: {}, bulk-eng: {department: engineering}, bulk-sales: {department: sales}}
sla_policies: {std: {acknowledge: 1h, resolve: 8h}}
route:
  team: bulk-triage
  sla: std
  group_by: [id]
  routes:
    - matchers: ['type="support.ticket"', 'component!=""']
      team: bulk-eng
      group_by: [account, component]
    - matchers: ['type="sales.note"']
      team: bulk-sales
      group_by: [account, intent]
"""
TEAMS = ("bulk-triage", "bulk-eng", "bulk-sales")


def mixed_events(run: str) -> list[tuple[str, bytes, bytes, str]]:
    """(event id, key, value, topic): tickets with and without a component, sales notes."""
    rng = random.Random(7)
    made = []
    for n in range(EVENTS):
        event_id = f"{run}-{n}"
        domain = f"c{rng.randrange(200)}.{run[-8:]}.example"
        if n % 3 == 2:
            intent = rng.choice(["quote_request", "feature_request", "deal_won"])
            data: dict[str, Any] = {"intent": intent, "subject": f"商談 {n}",
                                    "rep_email": "rep@handoff.example",
                                    "customer_email": f"buyer@{domain}"}  # fmt: skip
            made.append((event_id, domain.encode(), cloud_event(event_id, "sales.note", data),
                         topics.INGEST_SALES))  # fmt: skip
        else:
            priority = rng.choice(["low", "normal", "high", "urgent"])
            ticket: dict[str, Any] = {"subject": f"問い合わせ {n}",
                                      "requester_email": f"u{n % 7}@{domain}",
                                      "priority": priority}  # fmt: skip
            if n % 3 == 0:
                ticket["component"] = f"part-{rng.randrange(10)}"
            made.append((event_id, domain.encode(), cloud_event(event_id, "support.ticket", ticket),
                         topics.INGEST_SUPPORT))  # fmt: skip
    return made


def test_two_workers_route_ten_thousand_events_once_each(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    rules = write_rules(tmp_path, BULK_RULES)
    env = router_env(kafka_bootstrap, tmp_path, rules=rules, only_new=True)
    first_env = {**env, "HANDOFF_ROUTER_DATA_DIR": str(tmp_path / "one")}
    run = unique("bulk")
    events = mixed_events(run)
    ids = {event_id for event_id, *_ in events}
    with running_router(first_env, tmp_path, "one"):
        second_env = {**env, "HANDOFF_ROUTER_DATA_DIR": str(tmp_path / "two"),
                      "HANDOFF_ROUTER_WEB_PORT": str(free_port())}  # fmt: skip
        with running_router(second_env, tmp_path, "two"):
            probes = Producer(kafka_bootstrap)
            try:
                warm_up(kafka_bootstrap, probes)
            finally:
                probes.close()
            producer = KafkaProducer(
                bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
            )
            started = time.monotonic()
            try:
                for _, key, value, topic in events:
                    producer.send(topic, key=key, value=value)
                producer.flush(timeout=120)
            finally:
                producer.close()

            seen: Counter[str] = Counter()
            done = 0

            def every_event_routed(records: list[Any]) -> bool:
                nonlocal done  # look at each record once: the topic is large
                seen.update(i for i in routed_ids(records[done:]) if i.startswith(run))
                done = len(records)
                return ids <= set(seen)

            records = read_topic(
                kafka_bootstrap,
                topics.ROUTED,
                every_event_routed,
                timeout=240,
            )
            elapsed = time.monotonic() - started
    assert set(seen) == ids, f"{len(ids - set(seen))} events never routed"
    twice = [i for i, n in seen.items() if n > 1]
    assert twice == [], f"{len(twice)} events routed more than once, e.g. {twice[:3]}"
    teams = Counter(json.loads(r.value)["data"]["team"] for r in records
                    if (routed_ids([r]) or [""])[0].startswith(run))  # fmt: skip
    assert set(teams) == set(TEAMS)
    assert sum(teams.values()) == EVENTS
    print(f"\n{EVENTS} events through two workers in {elapsed:.1f}s: {dict(teams)}")
