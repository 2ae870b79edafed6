"""Readers of the same figures at the same version share one computation
(``figures.cached`` through ``services.api.flights``): the stampede a busy dashboard met,
eight readers recomputing the same figures after each task change."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from services.api import figures


def test_eight_readers_at_one_version_compute_once(engine: sa.Engine) -> None:
    calls, asked = [], threading.Semaphore(0)

    def compute() -> str:
        calls.append(1)
        for _ in range(8):
            asked.acquire(timeout=10)
        threading.Event().wait(0.5)
        return "figures"

    def read() -> str:
        with engine.connect() as conn:
            asked.release()
            return figures.cached(conn, ("shared-test",), compute)

    with ThreadPoolExecutor(8) as pool:
        results = [answer.result(20) for answer in [pool.submit(read) for _ in range(8)]]

    assert results == ["figures"] * 8
    assert len(calls) == 1
    with engine.connect() as conn:  # kept afterwards, as before
        assert figures.cached(conn, ("shared-test",), compute) == "figures"
    assert len(calls) == 1
