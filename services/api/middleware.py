"""ASGI middleware of the API: a request body size limit, and request metrics."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.responses import JSONResponse

from services.api.metrics import ApiMetrics
from services.asgi_metrics import Record, ResponseMetricsMiddleware

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, before anything parses them.

    A declared ``Content-Length`` over the limit is refused at once; otherwise
    the body is read (up to the limit) and replayed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self._refusal(scope)
        if refused is not None:
            await _send_json(send, *refused)
            return
        body = await self._read(receive)
        if body is None:
            return  # the client went away
        if len(body) > self.max_bytes:
            await _send_json(send, 413, self._too_large())
            return
        await self.app(scope, _replaying(body, receive), send)

    def _refusal(self, scope: Scope) -> tuple[int, dict[str, str]] | None:
        """The answer to a declared ``Content-Length`` that is invalid or over the limit."""
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is None:
            return None
        if not declared.strip().isdigit():
            return 400, {"detail": "invalid Content-Length header"}
        return (413, self._too_large()) if int(declared) > self.max_bytes else None

    async def _read(self, receive: Receive) -> bytes | None:
        """The body, read until it ends or passes the limit; None if the client went away."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if size > self.max_bytes or not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self) -> dict[str, str]:
        return {"detail": f"request body larger than {self.max_bytes} bytes"}


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the client's messages."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    response = JSONResponse(body, status_code=status)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


class RequestMetricsMiddleware(ResponseMetricsMiddleware):
    """Count requests by route template (never the raw path), method and status."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        super().__init__(app, _recorder(metrics))


def _recorder(metrics: ApiMetrics) -> Record:
    def record(route: str, method: str, status: int, took: float) -> None:
        metrics.requests.labels(route=route, method=method, status=str(status)).inc()
        metrics.request_duration.labels(route=route).observe(took)

    return record
