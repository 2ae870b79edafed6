"""One delivery attempt as an HTTP request: the callback's method, its headers and its auth.

A callback names its credentials by environment variable (``HANDOFF_CALLBACK_*``); they are
read when an attempt is sent, never stored in the database, shown by the API or logged.
A variable that is not set fails the attempt (logged with the variable's name, retried
like any failure), so setting it lets the next attempt through.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from services.api.db import Callback, Delivery
from services.api.webhooks import signed_headers
from services.core.errors import HandoffError

DEFAULT_METHOD = "POST"


class MissingSecretError(HandoffError):
    """The environment variable a callback's auth names is not set in this process."""

    def __init__(self, name: str) -> None:
        super().__init__(f"auth: environment variable {name} is not set in the API process")
        self.name = name


@dataclass(frozen=True)
class Outgoing:
    """One attempt on the wire (the body is the delivery's)."""

    method: str
    url: str
    headers: dict[str, str]


def outgoing(
    callback: Callback,
    delivery: Delivery,
    attempt: int,
    task_id: str,
    env: Mapping[str, str] | None = None,
) -> Outgoing:
    """The request for this attempt: static headers, then ours, then the auth header."""
    body = delivery.body.encode("utf-8")
    ours = signed_headers(callback.secret, body, delivery.delivery_id, attempt, task_id)
    headers = {**stored(callback.headers), **ours}
    auth = stored(callback.auth)
    if auth:
        name, value = auth_header(auth, os.environ if env is None else env)
        headers[name] = value
    return Outgoing(callback.method or DEFAULT_METHOD, delivery.url, headers)


def auth_header(auth: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str, str]:
    """``Authorization: Basic|Bearer ...`` or the named header, its secret read from ``env``."""
    secret = env.get(auth["secret_env"])
    if not secret:
        raise MissingSecretError(auth["secret_env"])
    if auth["scheme"] == "basic":
        pair = f"{auth.get('username') or ''}:{secret}".encode()
        return "Authorization", "Basic " + base64.b64encode(pair).decode("ascii")
    if auth["scheme"] == "bearer":
        return "Authorization", f"Bearer {secret}"
    return str(auth["header"]), secret


def stored(text: str | None) -> dict[str, Any]:
    """A JSON object kept in a text column (absent: empty)."""
    return dict(json.loads(text)) if text else {}


Poster = Callable[[str, str, bytes, dict[str, str], float], int]


def http_send(method: str, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    response = httpx.request(method, url, content=body, headers=headers, timeout=timeout)
    return response.status_code
