"""The alias map goes out on ``handoff.accounts`` as an outbox (issue 11), on the real broker
and on SQLite and PostgreSQL: every alias row is published once acknowledged, a row changed
meanwhile goes out again with its new account, and nothing unpublished is left behind."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from kafka import KafkaConsumer

from schemas import topics
from services.api.accounts_aliases import apply_link
from services.api.accounts_feed import AliasPublisher, mark_published, unpublished
from tests.processes import wait_for

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def published(bootstrap: str, run: str, count: int) -> list[tuple[str, str]]:
    """(alias, account) of this run's ``count`` records on ``handoff.accounts``."""
    consumer = KafkaConsumer(topics.ACCOUNTS, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest")  # fmt: skip
    found: list[tuple[str, str]] = []

    def all_read() -> bool:
        for records in consumer.poll(timeout_ms=500).values():
            bodies = [json.loads(r.value) for r in records if run in r.key.decode()]
            found.extend((body["alias"], body["account"]) for body in bodies)
        return len(found) >= count

    try:
        wait_for(f"{count} records on {topics.ACCOUNTS}", all_read, timeout=30)
        return found
    finally:
        consumer.close()


def test_links_and_merges_are_published_once_acknowledged(
    engine: sa.Engine, kafka_bootstrap: str
) -> None:
    run = uuid.uuid4().hex[:8]
    a, b, c = f"a-{run}.example", f"crm:B{run}", f"crm:A{run}"
    with engine.begin() as conn:
        apply_link(conn, [a, b], origin="admin", now=T0)
    feed = AliasPublisher(engine, kafka_bootstrap, 4, ack_timeout_s=10)
    try:
        assert feed.publish_once() == 1
        assert feed.publish_once() == 0  # marked: not sent again
        with engine.begin() as conn:  # b merged into c: a and b now point at c
            apply_link(conn, [b], origin="merge", now=T0 + timedelta(minutes=1), keep=c)
        assert feed.publish_once() == 2
    finally:
        feed.stop()
    found = published(kafka_bootstrap, run, 3)  # in order per alias (its key, its partition)
    assert [account for alias, account in found if alias == a] == [b, c]
    assert [account for alias, account in found if alias == b] == [c]


def test_a_row_changed_after_it_was_read_stays_unpublished(engine: sa.Engine) -> None:
    run = uuid.uuid4().hex[:8]
    a = f"a-{run}.example"
    with engine.begin() as conn:
        apply_link(conn, [a, f"crm:B{run}"], origin="admin", now=T0)
        [read] = unpublished(conn)
        apply_link(conn, [f"crm:B{run}"], origin="merge", now=T0 + timedelta(seconds=1),
                   keep=f"crm:A{run}")  # fmt: skip
        mark_published(conn, read)  # what was sent is out of date: the row goes again
        assert {row.alias: row.account for row in unpublished(conn)} == {
            a: f"crm:A{run}", f"crm:B{run}": f"crm:A{run}"}  # fmt: skip
