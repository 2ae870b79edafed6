"""A vendor's API on 127.0.0.1: a scripted sequence of failures, then the real behaviour."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema_rs


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class VendorServer:
    """Subclasses implement ``answer(request)``; every refusal of ours is in ``violations``."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.violations: list[str] = []
        self.issues: dict[Any, dict[str, Any]] = {}  # trackers: what was created, by key
        self.comments: dict[Any, list[Any]] = {}
        self.edits: dict[Any, list[Any]] = {}
        self.lock = threading.Lock()
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                vendor._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = _serve  # noqa: N815 (http.server names)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        split = urlsplit(handler.path)
        request = Request(
            handler.command,
            split.path,
            parse_qs(split.query),
            {k.lower(): v for k, v in handler.headers.items()},
            handler.rfile.read(length),
        )
        with self.lock:
            self.requests.append(request)
            answer = self.answer(request)
        data = b"" if answer.body is None else json.dumps(answer.body).encode()
        handler.send_response(answer.status)
        for name, value in {"Content-Type": "application/json", **answer.headers}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def answer(self, request: Request) -> Answer:
        raise NotImplementedError

    def refuse(self, status: int, why: str) -> Answer:
        self.violations.append(why)
        return Answer(status, {"message": why})

    def check(self, schema: dict[str, Any], document: Any, what: str) -> Answer | None:
        """A 400 naming the first schema violation, as the vendor would refuse it."""
        errors = [str(e) for e in jsonschema_rs.validator_for(schema).iter_errors(document)]
        return self.refuse(400, f"{what}: {errors[0]}") if errors else None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FlakyCreate:
    """The create call's script: a rate limit (not stored), then a 5xx *after* storing."""

    def __init__(self, limited: Callable[[], Answer]) -> None:
        self.calls = 0
        self.limited = limited

    def before(self) -> Answer | None:
        self.calls += 1
        return self.limited() if self.calls == 1 else None

    def after(self) -> Answer | None:
        return Answer(503, {"message": "Service Unavailable"}) if self.calls == 2 else None
