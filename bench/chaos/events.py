"""The events the scenarios send: tickets and sales notes of one run, as ingest makes them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from schemas import topics
from tests.integration.router_process import cloud_event

# Tickets with a component are grouped (one task per account and component), the rest
# get a task each: a re-processed event must join the task it joined the first time.
RULES = """
teams: {chaos-triage: {}, chaos-eng: {department: engineering}, chaos-sales: {department: sales}}
sla_policies: {std: {acknowledge: 1h, resolve: 8h}}
route:
  team: chaos-triage
  sla: std
  group_by: [id]
  routes:
    - matchers: ['type="support.ticket"', 'component!=""']
      team: chaos-eng
      group_by: [account, component]
    - matchers: ['type="sales.note"']
      team: chaos-sales
      group_by: [id]
"""
TEAMS = ("chaos-triage", "chaos-eng", "chaos-sales")


@dataclass(frozen=True)
class Event:
    event_id: str
    key: bytes
    value: bytes
    topic: str


def stream(run: str, count: int, seed: int = 7) -> Iterator[Event]:
    """``count`` events: two tickets (every other one with a component), then a sales note."""
    rng = random.Random(seed)
    for n in range(count):
        event_id = f"{run}-{n}"
        domain = f"c{rng.randrange(200)}.{run[-8:]}.example"
        yield _note(event_id, domain) if n % 3 == 2 else _ticket(event_id, domain, n, rng)


def _ticket(event_id: str, domain: str, n: int, rng: random.Random) -> Event:
    ticket = {"subject": f"問い合わせ {n}", "requester_email": f"u{n % 7}@{domain}",
              "priority": rng.choice(["low", "normal", "high", "urgent"])}  # fmt: skip
    if n % 2 == 0:
        ticket["component"] = f"part-{rng.randrange(10)}"
    value = cloud_event(event_id, "support.ticket", ticket)
    return Event(event_id, domain.encode(), value, topics.INGEST_SUPPORT)


def _note(event_id: str, domain: str) -> Event:
    note = {"intent": "quote_request", "subject": "見積", "rep_email": "rep@handoff.example",
            "customer_email": f"buyer@{domain}"}  # fmt: skip
    return Event(event_id, domain.encode(), cloud_event(event_id, "sales.note", note),
                 topics.INGEST_SALES)  # fmt: skip


def probe(event_id: str) -> bytes:
    """A ticket that opens a task of its own (no component)."""
    data = {"subject": "probe", "requester_email": "probe@chaos.example", "priority": "low"}
    return cloud_event(event_id, "support.ticket", data)
