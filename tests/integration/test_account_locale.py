"""The language an account is answered in (issue 11, acceptance 2), on SQLite and PostgreSQL.

An admin sets an account's locale through the API (by any of its identifiers); the router's
answer to a rush order is rendered for the rep's CRM in the request's locale, else the
account's, else the configured default. Routed answers are projected through the
projector's own store path, as the router sends them; the delivery owed to a registered
HubSpot callback is read back. The note shape is HubSpot's documented one (``POST
/crm/v3/objects/notes``, ``properties.hs_note_body``,
https://developers.hubspot.com/docs/api-reference/crm-notes-v3/guide).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.events import TASK_ROUTED, CloudEvent, TaskRouted, derived_id, envelope
from schemas.orders import HeldUnits
from services.api.models.deliveries import DELIVERIES
from services.api.projection import task_row
from services.api.projector_writes import store_task
from tests.integration.test_accounts import admin_api

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SOURCE = "/sources/hubspot"


@pytest.fixture
def api(database_url: str, engine: sa.Engine) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with admin_api(database_url, engine) as (client, reader):
        callback = {"source": SOURCE, "url": "http://127.0.0.1:9/crm/v3/objects/notes",
                    "format": "hubspot", "secret": "s3cr3t-s3cr3t-s3cr3t"}  # fmt: skip
        assert client.put("/v1/admin/callbacks", json=callback).status_code in (200, 201)
        yield client, reader


def held_order(name: str, account: str, locale: str | None) -> CloudEvent:
    """A rush order the router answered feasible, as ``task.routed`` carries it."""
    held = HeldUnits(hold_id=f"hold-{name}", plant="浜松", line="l1", units=1500,
                     ready_by=date(2026, 3, 4), expires_at=T0 + timedelta(hours=24))  # fmt: skip
    data = TaskRouted(
        task_id=derived_id("task", name), source_event_id=name, source=SOURCE,
        team="production-planning", rule="/0", account=account,
        priority="high",  # type: ignore[arg-type]
        component=None, subject=f"1500台 {name}", description="", requester_email="r@x.example",
        raised_at=T0, routed_at=T0, sla_due=T0 + timedelta(hours=8), origin_event_id=name,
        origin_ref="9001", held=held, locale=locale,
    )  # fmt: skip
    return envelope(type_=TASK_ROUTED, source="handoff/router", data=data, time=T0,
                    event_id=derived_id(TASK_ROUTED, name), subject=data.task_id)  # fmt: skip


def answered(
    engine: sa.Engine, name: str, account: str, locale: str | None = None, default: str = "en"
) -> str:
    """Project the router's answer (``default``: the configured locale); the note text owed
    to the rep's HubSpot."""
    event = held_order(name, account, locale)
    with engine.begin() as conn:
        store_task(conn, event, task_row(event, projected_at=T0), default)
        query = sa.select(DELIVERIES.c.body).where(DELIVERIES.c.task_id == derived_id("task", name))
        [body] = conn.execute(query).scalars().all()
    text: str = json.loads(body)["properties"]["hs_note_body"]
    return text


def test_the_account_locale_is_used_when_the_request_has_none(
    engine: sa.Engine, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, reader = api
    linked = client.post("/v1/accounts/links", json={"identifiers": ["crm:001JA", "ja.example"]})
    assert linked.status_code == 200, linked.text
    assert client.put("/v1/accounts/ja.example/locale", json={"locale": "ja"}, headers=reader
                      ).status_code == 403  # fmt: skip
    put = client.put("/v1/accounts/ja.example/locale", json={"locale": "ja"})
    assert put.json() == {"account": "crm:001JA", "locale": "ja"}
    assert client.get("/v1/accounts/crm:001JA/locale", headers=reader).json()["locale"] == "ja"

    assert answered(engine, "ja-account", "crm:001JA").startswith("納期回答: 2026年3月4日までに")
    assert answered(engine, "en-asked", "crm:001JA", "en").startswith("Feasible: 1,500 units")
    assert answered(engine, "unset", "crm:001XX").startswith("Feasible: 1,500 units")


def test_an_en_account_is_answered_in_english_and_a_merge_keeps_the_locale(
    engine: sa.Engine, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, _ = api
    assert client.put("/v1/accounts/crm:001EN/locale", json={"locale": "en"}).status_code == 200
    assert client.put("/v1/accounts/crm:001JB/locale", json={"locale": "ja"}).status_code == 200
    # English even where the configured default is Japanese
    assert answered(engine, "en-account", "crm:001EN", default="ja").startswith("Feasible: 1,500")
    assert answered(engine, "ja-default", "crm:001XX", default="ja").startswith("納期回答: ")
    # a merge: the kept account's own locale wins; one with none takes the merged one's
    merged = client.post("/v1/accounts/merge", json={"keep": "crm:001EN", "merge": "crm:001JB"})
    assert merged.status_code == 200, merged.text
    assert client.get("/v1/accounts/crm:001JB/locale").json() == {
        "account": "crm:001EN", "locale": "en"}  # fmt: skip
    cleared = client.put("/v1/accounts/crm:001EN/locale", json={"locale": None})
    assert cleared.json() == {"account": "crm:001EN", "locale": None}
    assert answered(engine, "after-clear", "crm:001JB").startswith("Feasible")  # the default
    assert client.put("/v1/accounts/crm:001JC/locale", json={"locale": "ja"}).status_code == 200
    client.post("/v1/accounts/merge", json={"keep": "crm:001NO", "merge": "crm:001JC"})
    assert answered(engine, "merged-ja", "crm:001NO").startswith("納期回答: ")


def test_a_bad_locale_names_the_field(api: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = api
    response = client.put("/v1/accounts/crm:001JA/locale", json={"locale": "fr"})
    assert response.status_code == 422
    assert "locale" in response.text
    public = client.put("/v1/accounts/gmail.com/locale", json={"locale": "ja"})
    assert public.status_code == 404
    assert "public mail domain" in public.text


def test_the_cli_sets_shows_and_clears_an_accounts_locale(
    engine: sa.Engine,
    database_url: str,
    api: tuple[TestClient, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from services.cli import app

    monkeypatch.setenv("HANDOFF_DATABASE_URL", database_url)
    runner = CliRunner()
    assert runner.invoke(app, ["accounts", "link", "crm:001CL", "cli.example"]).exit_code == 0
    set_ja = runner.invoke(app, ["accounts", "locale", "cli.example", "ja"])
    assert (set_ja.exit_code, set_ja.output) == (0, "ja\n")
    assert answered(engine, "cli-ja", "crm:001CL").startswith("納期回答: ")
    assert runner.invoke(app, ["accounts", "locale", "crm:001CL"]).output == "ja\n"
    cleared = runner.invoke(app, ["accounts", "locale", "crm:001CL", "--clear"])
    assert (cleared.exit_code, cleared.output) == (0, "default\n")
    bad = runner.invoke(app, ["accounts", "locale", "crm:001CL", "fr"])
    assert bad.exit_code == 2
    assert "locale must be one of ja, en" in bad.output
