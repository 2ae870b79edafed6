"""Issue 11: a merge of two accounts is applied in the router's account index, with no
Kafka key changed.

Every part is real: ingest, router and API as processes, the broker and PostgreSQL. Two
customers' sales notes (quote requests: one task each) are keyed by their own accounts
(``crm:B…`` and the domain ``a-….example``). Before the merge a new task of A lists
nothing of B's as related on the team topic; an admin merges A into B through the API
(which publishes its alias map on ``handoff.accounts``); a new task of A then lists B's
open task as related on the team topic, and a new task of B lists A's -- while every event
keeps the key ingest gave it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer

from schemas import topics
from tests.databases import fresh_postgres_database
from tests.processes import Platform, platform_env, running_platform, wait_for

TEAM_TOPIC = topics.team_topic("sales-desk")  # quote requests: group_by [id], one task each


@pytest.fixture(scope="module")
def platform(
    kafka_bootstrap: str, postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("merge")
    database = fresh_postgres_database(postgres_server_url)
    env = platform_env(kafka_bootstrap, next(database), home)
    env["HANDOFF_INGEST_UNSIGNED_SOURCES"] = '["support", "sales"]'
    try:
        with running_platform(env, home) as running:
            yield running
    finally:
        database.close()


class TeamTopic:
    """``handoff.team.sales-desk`` read from the start: each task.routed by its subject."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = KafkaConsumer(
            TEAM_TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
            enable_auto_commit=False, group_id=None,
        )  # fmt: skip
        self.routed: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, bytes] = {}

    def poll(self) -> None:
        for records in self.consumer.poll(timeout_ms=500).values():
            for record in records:
                data = json.loads(record.value)["data"]
                self.routed[data["subject"]] = data
                self.keys[data["subject"]] = record.key

    def wait(self, subject: str) -> dict[str, Any]:
        def seen() -> bool:
            self.poll()
            return subject in self.routed

        wait_for(f"{subject!r} on {TEAM_TOPIC}", seen, timeout=60)
        return self.routed[subject]


def quote(platform: Platform, subject: str, **who: str) -> None:
    note = {"note_id": f"n-{uuid.uuid4().hex[:12]}", "intent": "quote_request",
            "subject": subject, "rep_email": "rep.one@handoff-demo.com", **who}  # fmt: skip
    response = httpx.post(f"{platform.ingest.url}/v1/sources/sales/notes", json=note, timeout=30)
    assert response.status_code == 202, response.text


def related_ids(routed: dict[str, Any]) -> set[str]:
    return {r["task_id"] for r in routed["related"]}


def test_after_a_merge_a_new_task_of_a_lists_bs_open_task(
    platform: Platform, kafka_bootstrap: str
) -> None:
    run = uuid.uuid4().hex[:8]
    b_account, a_domain = f"crm:001B{run}", f"a-{run}.example"
    team = TeamTopic(kafka_bootstrap)
    try:
        quote(platform, f"B1 {run}", crm_account_id=f"001B{run}")
        b1 = team.wait(f"B1 {run}")
        quote(platform, f"A1 {run}", customer_email=f"buyer@{a_domain}")
        a1 = team.wait(f"A1 {run}")
        assert related_ids(a1) == set()  # not linked yet: nothing of B's
        merged = httpx.post(f"{platform.api.url}/v1/accounts/merge", timeout=30,
                            json={"keep": b_account, "merge": a_domain})  # fmt: skip
        assert merged.status_code == 200, merged.text

        attempt: list[dict[str, Any]] = []

        def a_task_lists_b() -> bool:  # the router follows the map within seconds
            subject = f"A{len(attempt) + 2} {run}"
            quote(platform, subject, customer_email=f"buyer@{a_domain}")
            attempt.append(team.wait(subject))
            return b1["task_id"] in related_ids(attempt[-1])

        wait_for("a new task of A listing B's", a_task_lists_b, timeout=90)
        assert related_ids(attempt[-1]) >= {b1["task_id"], a1["task_id"]}
        quote(platform, f"B2 {run}", crm_account_id=f"001B{run}")
        b2 = team.wait(f"B2 {run}")
        assert related_ids(b2) >= {b1["task_id"], a1["task_id"]}  # and B's lists A's
        # nothing re-keyed: A's events keep A's key, B's keep B's
        assert team.keys[f"A{len(attempt) + 1} {run}"] == a_domain.encode()
        assert team.keys[f"B2 {run}"] == b_account.encode()
    finally:
        team.consumer.close()
