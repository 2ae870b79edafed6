"""The intake's memory of recent requests per account (a request that comes again)."""

from __future__ import annotations

import json

from services.router.handlers import requests
from services.router.handlers.base import Table


def test_an_account_keeps_only_its_most_recent_requests() -> None:
    table: Table = {}
    for n in range(requests.REQUESTS_KEPT + 5):
        _, account, value = requests.remember(table, "acme", f"ev-{n}", [])
        table[account] = value
    kept = json.loads(table["acme"])
    assert len(kept) == requests.REQUESTS_KEPT
    assert "ev-0" not in kept
    assert f"ev-{requests.REQUESTS_KEPT + 4}" in kept


def test_an_unknown_request_or_account_was_not_seen() -> None:
    table: Table = {"acme": json.dumps({"ev-1": [["billing:{}", "billing"]]})}
    assert requests.seen(table, "acme", "ev-2") is None
    assert requests.seen(table, "globex", "ev-1") is None
    assert requests.seen(table, "acme", "ev-1") == [("billing:{}", "billing")]
