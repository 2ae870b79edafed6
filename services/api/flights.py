"""One computation per key at a time: callers that ask for a key already being computed
wait for it and share its answer (a "single flight").

On a busy system every task change moves the rollups' version on, and the next readers of
a dashboard all ask for the same figures at the same new version at once: without this,
each of them computes the figures (at concurrency 8, eight times the work, all at once).
A follower whose leader failed computes for itself (the failure may be the leader's own
connection's). A computation that asks for its own key again is not made to wait for
itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class Flights:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flying: dict[Hashable, tuple[int, Future[Any]]] = {}
        self.shared = 0  # answers a follower got from a leader (tests, bench)

    def run(self, key: Hashable, compute: Callable[[], T]) -> T:
        me = threading.get_ident()
        with self._lock:
            found = self._flying.get(key)
            if found is None:
                flight: Future[Any] = Future()
                self._flying[key] = (me, flight)
        if found is not None:
            leader, flight = found
            if leader == me:
                return compute()  # asked again from within its own computation
            try:
                value: T = flight.result()
            except Exception:
                return compute()
            self.shared += 1
            return value
        try:
            value = compute()
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        else:
            flight.set_result(value)
            return value
        finally:
            with self._lock:
                self._flying.pop(key, None)
