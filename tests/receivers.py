"""An origin tool's webhook endpoint, served on 127.0.0.1 for a test: it records every call."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Origin:
    """An origin tool's webhook endpoint: answers ``statuses`` in turn, records every call."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.calls: list[tuple[datetime, dict[str, str], bytes, int]] = []
        self.paths: list[str] = []  # of every call, in order
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = origin.statuses.pop(0) if len(origin.statuses) > 1 else origin.statuses[0]
                origin.calls.append((datetime.now(UTC), dict(self.headers), body, status))
                origin.paths.append(self.path)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def delivered(self) -> list[tuple[datetime, dict[str, str], bytes, int]]:
        return [c for c in self.calls if 200 <= c[3] < 300]
