"""schemathesis against the API's own OpenAPI document: no 5xx, every response fits its schema.

Driven by hypothesis directly (one property per operation) over the ASGI app,
with an admin token, a fake broker and a few stored tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from prometheus_client import CollectorRegistry
from schemathesis.checks import positive_data_acceptance

from schemas.events import TASK_ROUTED, TaskRouted, derived_id, envelope
from services.api import auth
from services.api.app import create_app
from services.api.db import insert_task_if_absent, make_engine, upgrade
from services.api.projection import task_row
from services.api.settings import ApiSettings

from .conftest import T0, FakeClock, FakeFeedbackPublisher
from .fake_rules import FakeRules


def routed_row(n: int) -> dict[str, Any]:
    source_event_id = f"zd-{n}"
    data = TaskRouted(
        task_id=derived_id("task", source_event_id),
        source_event_id=source_event_id,
        source="/sources/support",
        team="billing-ui",
        rule="component:billing-ui",
        account="example.co.jp",
        priority="high",  # type: ignore[arg-type]
        component="billing-ui",
        subject="請求書",
        description="",
        requester_email="taro@example.co.jp",
        raised_at=T0 - timedelta(minutes=n),
        routed_at=T0,
        sla_due=T0 + timedelta(hours=1),
    )
    event = envelope(
        type_=TASK_ROUTED, source="/r", data=data, time=T0, event_id=derived_id("r", str(n))
    )
    return task_row(event, projected_at=T0)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'handoff.db'}"
    upgrade(url)
    engine: sa.Engine = make_engine(url)
    with engine.begin() as conn:
        for n in range(3):
            insert_task_if_absent(conn, routed_row(n))
    token = auth.create_token(engine, team=None, scope="admin", name="st", now=T0).token
    api_settings = ApiSettings(
        database_url=url,
        api_projector=False,
        api_delivery=False,
        api_auth="required",
        api_page_size_max=20,
    )
    api = create_app(
        api_settings,
        engine=engine,
        publisher=FakeFeedbackPublisher(),
        registry=CollectorRegistry(),
        clock=FakeClock(),
        rules=FakeRules(),
    )
    yield api, token
    engine.dispose()


def property_of(operation: Any, token: str) -> Any:
    """A hypothesis test of one operation: no 5xx, responses fit the schema."""
    # An opaque cursor that this API did not issue is refused (422) though it is a
    # schema-valid string, as is a string that is not a loadable rule file, and a query
    # parameter or token name with NUL (issue 10; the frozen document of test_openapi_document
    # keeps its schemas): that one check cannot hold for GET /v1/tasks, PUT /v1/admin/rules,
    # POST /v1/admin/tokens and GET /v1/stats/figures (?department=).
    unchecked = ("/v1/tasks", "/v1/admin/rules", "/v1/admin/tokens", "/v1/stats/figures")
    # Issue 11: an account identifier must be a kind:id, a domain or an address (a public
    # mail domain is none), a CSV must be account,domain lines, and a window's since must
    # come before its until -- each a 422 naming the field for a schema-valid value.
    unchecked += ("/v1/accounts/links", "/v1/accounts/merge", "/v1/accounts/links/csv",
                  "/v1/stats/lead-quality")  # fmt: skip
    # Issue 16 (item 8): a callback's source must be one requests come from (ingest's, or
    # seen in the database) and it needs a secret or auth: a 422 naming the field.
    unchecked += ("/v1/admin/callbacks",)
    excluded = [positive_data_acceptance] if operation.path in unchecked else []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Any) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"}, excluded_checks=excluded
        )

    return check


def test_no_5xx_and_every_response_fits_its_schema(app: tuple[FastAPI, str]) -> None:
    api, token = app
    schema = schemathesis.openapi.from_asgi("/openapi.json", api)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        if operation.path != "/metrics":  # text/plain, no schema to check
            property_of(operation, token)()
