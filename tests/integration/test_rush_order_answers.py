"""Issue 11, acceptance 2: a Salesforce rush order is answered in the rep's Salesforce.

Every part is real (ingest, router and API as processes, Kafka, PostgreSQL); Salesforce
is played by a local server that checks what its REST API documents for a record update:
``PATCH /services/data/vXX.X/sobjects/Task/{id}`` with the fields to change as JSON and
an OAuth bearer token, answered 204
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_update_fields.htm);
Task's ``Status`` picklist ("In Progress", "Completed") and ``Description``
(https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm).
The rush order itself is a Task record as the REST API serialises it (``attributes.type``,
``Id``, ``WhatId`` an Opportunity, ``Owner.Email`` and the owner's ``LanguageLocaleKey``,
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_user.htm),
with the org's custom fields for the order. The plant's capacity is a CSV as Japanese
Excel saves it (cp932).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.databases import fresh_postgres_database
from tests.processes import Platform, platform_env, running_platform, wait_for

TOKEN = "00D5g000004ABCD!AQ4AQ.sf-access-token"
API_PATH = "/services/data/v60.0/sobjects/Task/"
STATUSES = {"Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"}


class SalesforceTasks:
    """Salesforce's REST API for Task records, as far as a record update goes."""

    def __init__(self) -> None:
        self.updates: list[tuple[datetime, str, dict[str, Any]]] = []
        self.refused: list[str] = []
        tasks = self

        class Handler(BaseHTTPRequestHandler):
            def do_PATCH(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                problem = tasks.check(self.path, dict(self.headers), body)
                if problem is None:
                    record_id = self.path.removeprefix(API_PATH)
                    tasks.updates.append((datetime.now(UTC), record_id, json.loads(body)))
                else:
                    tasks.refused.append(problem)
                self.send_response(204 if problem is None else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def check(self, path: str, headers: dict[str, str], body: bytes) -> str | None:
        if not path.startswith(API_PATH) or not path.removeprefix(API_PATH).startswith("00T"):
            return f"not a Task record: {path}"
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return "no OAuth bearer token"
        fields = json.loads(body)
        if not set(fields) <= {"Status", "Description"} or fields.get("Status") not in STATUSES:
            return f"not Task fields: {fields}"
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def salesforce() -> Iterator[SalesforceTasks]:
    tasks = SalesforceTasks()
    yield tasks
    tasks.close()


@pytest.fixture(scope="module")
def platform(
    kafka_bootstrap: str, postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("rush")
    database = fresh_postgres_database(postgres_server_url)
    env = platform_env(kafka_bootstrap, next(database), home)
    env["HANDOFF_INGEST_UNSIGNED_SOURCES"] = '["support", "salesforce", "capacity"]'
    env["HANDOFF_API_DEFAULT_LOCALE"] = "en"  # Japanese only because the rep's is ja
    env["HANDOFF_API_DELIVERY_POLL_S"] = "0.1"
    env["HANDOFF_CALLBACK_SALESFORCE_TOKEN"] = TOKEN
    try:
        with running_platform(env, home) as running:
            yield running
    finally:
        database.close()


def publish_capacity(platform: Platform, product: str, plant: str) -> None:
    today = datetime.now(UTC).date()
    rows = [
        f"{plant},L1,{product},{(today + timedelta(days=n)).isoformat()},"
        f'"1,000",{datetime.now(UTC).isoformat()}'
        for n in (1, 2, 3, 4, 5)
    ]
    csv = "工場,ライン,製品,日付,空き数量,基準日時\r\n" + "\r\n".join(rows) + "\r\n"
    response = httpx.post(
        f"{platform.ingest.url}/v1/sources/capacity/csv",
        content=csv.encode("cp932"),
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert response.status_code == 202, response.text


def register_salesforce(platform: Platform, salesforce: SalesforceTasks) -> None:
    body = {
        "source": "/sources/salesforce",
        "url": f"{salesforce.url}{API_PATH}{{ref}}",
        "format": "salesforce",
        "method": "PATCH",
        "auth": {"scheme": "bearer", "secret_env": "HANDOFF_CALLBACK_SALESFORCE_TOKEN"},
    }
    response = httpx.put(f"{platform.api.url}/v1/admin/callbacks", json=body, timeout=30)
    assert response.status_code in (200, 201), response.text


def rush_order(
    record_id: str, product: str, quantity: int, due: str, at: datetime
) -> dict[str, Any]:
    return {
        "attributes": {"type": "Task", "url": f"{API_PATH}{record_id}"},
        "Id": record_id,
        "Subject": f"{quantity}台 {product} 至急",
        "Handoff_Intent__c": "Rush Order",
        "Product_Line__c": product.upper(),
        "Quantity__c": quantity,
        "Due_Date__c": due,
        "WhatId": "0065g00000XyZ12AAB",
        "AccountId": "0015g00000AcMe1AAB",
        "Owner": {"Email": "tanaka@acme.example", "LanguageLocaleKey": "ja"},
        "LastModifiedDate": at.isoformat().replace("+00:00", "Z"),
    }


def post_order(platform: Platform, order: dict[str, Any]) -> None:
    url = f"{platform.ingest.url}/v1/sources/salesforce/webhooks"
    response = httpx.post(url, json=order, timeout=30)
    assert response.status_code == 202, response.text


def updates_of(
    salesforce: SalesforceTasks, record_id: str
) -> list[tuple[datetime, dict[str, Any]]]:
    return [(at, fields) for at, rid, fields in salesforce.updates if rid == record_id]


@pytest.mark.timed
def test_a_rush_order_is_answered_in_the_reps_salesforce(
    platform: Platform, salesforce: SalesforceTasks
) -> None:
    product, plant = f"wx-{uuid.uuid4().hex[:6]}", f"浜松-{uuid.uuid4().hex[:4]}"
    register_salesforce(platform, salesforce)
    publish_capacity(platform, product, plant)
    today = datetime.now(UTC).date()
    fits, late = f"00T5g{uuid.uuid4().hex[:10]}", f"00T5g{uuid.uuid4().hex[:10]}"

    # a first order waits until the capacity is in (the CSV and the order travel apart)
    probe = f"00T5g{uuid.uuid4().hex[:10]}"
    post_order(platform, rush_order(probe, product, 1, (today + timedelta(days=5)).isoformat(),
                                    datetime.now(UTC)))  # fmt: skip
    wait_for("the probe answered", lambda: bool(updates_of(salesforce, probe)), timeout=60)

    ordered_at = datetime.now(UTC)
    post_order(
        platform,
        rush_order(fits, product, 1500, (today + timedelta(days=2)).isoformat(), ordered_at),
    )
    wait_for("the answer in Salesforce", lambda: bool(updates_of(salesforce, fits)), timeout=30)
    [(received, fields)] = updates_of(salesforce, fits)
    assert (received - ordered_at).total_seconds() < 1.0, f"answered after {received - ordered_at}"
    assert fields["Status"] == "Completed"
    assert fields["Description"].startswith("納期回答: ")
    assert "1,500 台を製造できます" in fields["Description"]
    assert f"（{plant} l1 ライン）" in fields["Description"]
    assert "JST まで確保しています" in fields["Description"]

    # 3,000 more by tomorrow does not fit: an interim answer and structured planning work
    due = (today + timedelta(days=1)).isoformat()
    post_order(platform, rush_order(late, product, 3000, due, datetime.now(UTC)))
    wait_for("the interim answer", lambda: bool(updates_of(salesforce, late)), timeout=30)
    [(_, interim)] = updates_of(salesforce, late)
    assert interim["Status"] == "In Progress"
    assert "には間に合いません。最短の可能日は" in interim["Description"]
    task = _planning_task(platform, f"3000台 {product}")
    assert task["order"]["kind"] == "planning"
    planning = task["order"]["fields"]
    assert (planning["quantity"], planning["product"], planning["due_date"]) == (3000, product, due)
    assert planning["candidates"] == [{"plant": plant, "line": "l1"}]
    assert planning["shortfall"][0]["units"] > 0
    assert f"生産計画タスク {task['task_id']} を起票しました" in interim["Description"]

    # the planner's resolution is a second update of the rep's Task
    resolved = httpx.post(
        f"{platform.api.url}/v1/tasks/{task['task_id']}/resolve",
        json={"message": "土曜稼働で 12/5 に 3,000 台出荷できます"},
        timeout=30,
    )
    assert resolved.status_code == 200, resolved.text
    wait_for("the planner's answer", lambda: len(updates_of(salesforce, late)) == 2, timeout=30)
    _, final = updates_of(salesforce, late)[1]
    assert final == {
        "Status": "Completed",
        "Description": "土曜稼働で 12/5 に 3,000 台出荷できます",
    }
    assert salesforce.refused == []


def test_an_order_without_a_locale_is_answered_in_the_accounts_language(
    platform: Platform, salesforce: SalesforceTasks
) -> None:
    """The rep's owner record names no language: a ``ja`` account (set by an admin) is
    answered in Japanese, an ``en`` one in English (the configured default is ``en``; the
    account set to ``ja`` is the proof the account's locale is read)."""
    run = uuid.uuid4().hex[:8]
    product, plant = f"wx-{run}", f"浜松-{run[:4]}"
    register_salesforce(platform, salesforce)
    publish_capacity(platform, product, plant)
    accounts = {"ja": f"0015g{run}JaAAB", "en": f"0015g{run}EnAAB"}
    for locale, account in accounts.items():
        url = f"{platform.api.url}/v1/accounts/crm:{account}/locale"
        response = httpx.put(url, json={"locale": locale}, timeout=30)
        assert response.json() == {"account": f"crm:{account}", "locale": locale}, response.text
    due = (datetime.now(UTC).date() + timedelta(days=5)).isoformat()
    probe = f"00T5g{uuid.uuid4().hex[:10]}"
    post_order(platform, rush_order(probe, product, 1, due, datetime.now(UTC)))
    wait_for("the probe answered", lambda: bool(updates_of(salesforce, probe)), timeout=60)
    records = {locale: f"00T5g{uuid.uuid4().hex[:10]}" for locale in accounts}
    for locale, record in records.items():
        order = rush_order(record, product, 100, due, datetime.now(UTC))
        order |= {"AccountId": accounts[locale], "Owner": {"Email": "tanaka@acme.example"}}
        post_order(platform, order)
    for locale, record in records.items():
        wait_for(f"the {locale} answer", lambda r=record: bool(updates_of(salesforce, r)), 30)
    [(_, ja)] = updates_of(salesforce, records["ja"])
    [(_, en)] = updates_of(salesforce, records["en"])
    assert ja["Description"].startswith("納期回答: "), ja
    assert "100 台を製造できます" in ja["Description"]
    assert en["Description"].startswith("Feasible: 100 units by "), en
    assert salesforce.refused == []


def _planning_task(platform: Platform, subject: str) -> dict[str, Any]:
    url = f"{platform.api.url}/v1/teams/production-planning/tasks?state=all&limit=500"
    found: list[dict[str, Any]] = []

    def listed() -> bool:
        tasks = httpx.get(url, timeout=30).json()["tasks"]
        found[:] = [t for t in tasks if t["subject"].startswith(subject)]
        return bool(found)

    wait_for("the planning task", listed, timeout=30)
    detail = httpx.get(f"{platform.api.url}/v1/tasks/{found[-1]['task_id']}", timeout=30)
    assert detail.status_code == 200, detail.text
    body: dict[str, Any] = detail.json()
    return body
