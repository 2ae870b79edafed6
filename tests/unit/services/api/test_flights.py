"""``Flights``: readers asking for the same key at once share one computation."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.api.flights import Flights


def test_eight_readers_at_once_compute_once_and_all_get_the_answer() -> None:
    flights, calls, asked = Flights(), [], threading.Semaphore(0)

    def compute() -> str:
        calls.append(1)
        for _ in range(8):
            asked.acquire(timeout=5)  # every reader is on its way in
        threading.Event().wait(0.5)  # ... and past the few lines before the flight
        return "figures"

    def read() -> str:
        asked.release()
        return flights.run("v42", compute)

    with ThreadPoolExecutor(8) as pool:
        results = [answer.result(10) for answer in [pool.submit(read) for _ in range(8)]]

    assert results == ["figures"] * 8
    assert len(calls) == 1
    assert flights.shared == 7
    assert flights._flying == {}


def test_other_keys_do_not_wait() -> None:
    flights, order = Flights(), []
    hold = threading.Event()

    def slow() -> str:
        hold.wait(5)
        order.append("slow")
        return "v1"

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(flights.run, "v1", slow)
        second = pool.submit(flights.run, "v2", lambda: order.append("fast") or "v2")
        assert second.result(5) == "v2"
        hold.set()
        assert first.result(5) == "v1"
    assert order == ["fast", "slow"]


def test_a_failed_leader_leaves_each_follower_to_compute_for_itself() -> None:
    flights, go, calls = Flights(), threading.Event(), []

    def compute() -> str:
        calls.append(threading.get_ident())
        if len(calls) == 1:
            go.wait(5)
            raise ConnectionError("the leader's connection went away")
        return "figures"

    with ThreadPoolExecutor(3) as pool:
        answers = [pool.submit(flights.run, "v7", compute) for _ in range(3)]
        threading.Event().wait(0.2)
        go.set()
        outcomes = []
        for answer in answers:
            try:
                outcomes.append(answer.result(5))
            except ConnectionError:
                outcomes.append("failed")
    assert sorted(outcomes) == ["failed", "figures", "figures"]
    assert len(calls) == 3


def test_asking_for_its_own_key_from_within_does_not_wait_for_itself() -> None:
    flights = Flights()

    def outer() -> str:
        return "outer+" + flights.run("k", lambda: "inner")

    assert flights.run("k", outer) == "outer+inner"


def test_an_error_reaches_the_leader() -> None:
    with pytest.raises(ValueError, match="bad"):
        Flights().run("k", lambda: (_ for _ in ()).throw(ValueError("bad")))
