"""Counting HTTP responses by route template, for any of handoff's ASGI apps (api, ingest).

The route is the template the request matched (``/v1/tasks/{task_id}``), never
the raw path, and an unknown method counts as ``OTHER``: labels stay bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
Record = Callable[[str, str, int, float], None]  # route, method, status, seconds


class ResponseMetricsMiddleware:
    """Calls ``record(route, method, status, seconds)`` once per HTTP response."""

    def __init__(self, app: ASGIApp, record: Record) -> None:
        self.app = app
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        began = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.record(*_labels(scope), status, time.perf_counter() - began)


def _labels(scope: Scope) -> tuple[str, str]:
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    method = scope.get("method", "")
    return route, method if method in METHODS else "OTHER"
