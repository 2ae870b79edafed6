"""Zendesk's ticket update API, played on 127.0.0.1: checks what a real Zendesk would.

``PUT /api/v2/tickets/{ticket_id}`` (``.json`` optional) with ``Authorization: Basic
base64("{email}/token:{api_token}")`` or ``Bearer <oauth token>``, a JSON body
``{"ticket": {...}}``, as documented at
https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket
(API token auth: https://developer.zendesk.com/api-reference/introduction/security-and-auth/).
It also holds handoff to its promise of touching only what it owns: a ticket update may
carry a ``comment`` (``body`` text, ``public`` true/false) and a ``status`` and nothing
else. Anything else is answered as Zendesk answers it (401, 404, 405, 422) and recorded
in ``refused`` with the reason, so a test can assert there was none.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = re.compile(r"^/api/v2/tickets/(\d+)(?:\.json)?$")
STATUSES = {"new", "open", "pending", "hold", "solved", "closed"}
HANDOFF_OWNS = {"comment", "status"}


@dataclass(frozen=True)
class TicketUpdate:
    ticket_id: int
    ticket: dict[str, Any]
    headers: dict[str, str]


class ZendeskTickets:
    """A Zendesk account's ticket API that accepts ``email``'s API token or a bearer token."""

    def __init__(self, email: str, api_token: str, bearer: str | None = None) -> None:
        pair = base64.b64encode(f"{email}/token:{api_token}".encode()).decode()
        self.accepted_auth = {f"Basic {pair}"} | ({f"Bearer {bearer}"} if bearer else set())
        self.updates: list[TicketUpdate] = []
        self.refused: list[tuple[int, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def check(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> int:
        """The status Zendesk would answer (200 after recording the update)."""
        match = PATH.match(path)
        authorized = headers.get("Authorization") in self.accepted_auth
        problem = (
            (404, f"no such endpoint {path}") if match is None
            else (405, f"{method} is not how a ticket is updated (PUT)") if method != "PUT"
            else (401, "Couldn't authenticate you") if not authorized
            else _body_problem(headers, raw)
        )  # fmt: skip
        if problem is not None:
            self.refused.append(problem)
            return problem[0]
        assert match is not None
        ticket = json.loads(raw)["ticket"]
        self.updates.append(TicketUpdate(int(match.group(1)), ticket, headers))
        return 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        zendesk = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = zendesk.check(self.command, self.path, dict(self.headers), raw)
                answer = json.dumps({"ticket": {}, "audit": {}} if status == 200 else
                                    {"error": "RecordInvalid"}).encode()  # fmt: skip
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_PUT = do_POST = do_PATCH = _any  # noqa: N815 -- http.server's naming

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _body_problem(headers: dict[str, str], raw: bytes) -> tuple[int, str] | None:
    if not headers.get("Content-Type", "").startswith("application/json"):
        return 422, "Content-Type must be application/json"
    try:
        body = json.loads(raw)
    except ValueError:
        return 422, "not JSON"
    if (
        not isinstance(body, dict)
        or set(body) != {"ticket"}
        or not isinstance(body["ticket"], dict)
    ):
        return 422, 'the body must be {"ticket": {...}}'
    return _ticket_problem(body["ticket"])


def _ticket_problem(ticket: dict[str, Any]) -> tuple[int, str] | None:
    if not set(ticket) <= HANDOFF_OWNS:
        return 422, f"touches fields handoff does not own: {sorted(set(ticket) - HANDOFF_OWNS)}"
    comment = ticket.get("comment")
    if comment is not None and not (
        isinstance(comment, dict) and set(comment) <= {"body", "public"}
        and isinstance(comment.get("body"), str) and comment["body"].strip()
        and isinstance(comment.get("public", True), bool)
    ):  # fmt: skip
        return 422, f"comment must be {{body: text, public: bool}}, got {comment!r}"
    if "status" in ticket and ticket["status"] not in STATUSES:
        return 422, f"unknown status {ticket['status']!r}"
    return None
