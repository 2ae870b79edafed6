"""A retried webhook, through ingest and a real router worker, is one task downstream."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from schemas import topics
from schemas.events import SUPPORT_TICKET, derived_id
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from services.ingest.signatures import sign_handoff
from tests.integration.router_process import (
    Producer,
    records_for,
    routed_ids,
    router_env,
    running_router,
    warm_up,
)
from tests.processes import read_topic

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
SECRET = "router-test-secret"


def freshdesk_body(ticket_id: str) -> bytes:
    ticket = json.loads((FIXTURES / "freshdesk_ticket_api.json").read_text(encoding="utf-8"))
    return json.dumps(ticket | {"id": ticket_id}, ensure_ascii=False).encode()


def signed(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-Handoff-Signature": sign_handoff(SECRET.encode(), stamp, body),
        "X-Handoff-Timestamp": stamp,
    }


def test_a_retried_webhook_yields_one_task(
    kafka_bootstrap: str, tmp_path: Path, producer: Producer
) -> None:
    run = uuid.uuid4().hex[:10]
    twice, marker = f"fd-{run}", f"fd-{run}-marker"
    settings = IngestSettings(
        kafka_bootstrap=kafka_bootstrap, ingest_secret_freshdesk=SecretStr(SECRET)
    )
    # the worker starts at the end of the shared topics: what earlier tests left there is not
    # this test's (40 s of a suite run went to it)
    with running_router(router_env(kafka_bootstrap, tmp_path, only_new=True), tmp_path):
        warm_up(kafka_bootstrap, producer)
        with TestClient(create_app(settings)) as client:
            for ticket_id in (twice, twice, marker):  # the webhook, its retry, a marker
                body = freshdesk_body(ticket_id)
                response = client.post(
                    "/v1/sources/freshdesk/webhooks", content=body, headers=signed(body)
                )
                assert response.status_code == 202, response.text
        twice_id = derived_id(SUPPORT_TICKET, "/sources/freshdesk", twice)
        marker_id = derived_id(SUPPORT_TICKET, "/sources/freshdesk", marker)
        # one account, one partition: once the marker is routed, both copies were handled
        routed = read_topic(kafka_bootstrap, topics.ROUTED, lambda rs: marker_id in routed_ids(rs))

    assert len(records_for(routed, twice_id)) == 1
