"""One HTTP call to a vendor, its failure said as a ``ConnectorError``.

Rate limits as the vendors document them: 429 with ``Retry-After`` (Jira,
GitHub, Backlog), GitHub's secondary limits (403 with ``retry-after``, or
``x-ratelimit-remaining: 0`` with ``x-ratelimit-reset``), and 5xx are worth a
retry; any other 4xx is not (the request itself is wrong).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from services.connectors.base import ConnectorError

TIMEOUT_S = 10.0


class VendorHttp:
    """A vendor's base URL with its auth headers (and query, for Backlog's apiKey)."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self.params = dict(params or {})
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The vendor's 2xx answer; ``ConnectorError`` for anything else."""
        params = {**self.params, **kwargs.pop("params", {})}
        try:
            response = httpx.request(
                method, self.base_url + path, headers=self.headers, params=params,
                timeout=self.timeout_s, **kwargs,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise ConnectorError(f"{type(exc).__name__}: {exc}", retryable=True) from exc
        if not 200 <= response.status_code < 300:
            raise refusal(method, path, response)
        return response


def refusal(method: str, path: str, response: httpx.Response) -> ConnectorError:
    """The error a non-2xx answer stands for (never the secret-bearing query)."""
    status = response.status_code
    reason = f"{method} {path}: HTTP {status} {response.text[:300]}"
    wait = retry_after(response.headers)
    limited = status == 429 or (status == 403 and wait is not None)
    return ConnectorError(reason, retryable=limited or status >= 500, retry_after_s=wait)


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the vendor asked us to wait: ``Retry-After``, or until ``x-ratelimit-reset``."""
    value = headers.get("retry-after")
    if value is not None and value.strip().isdigit():
        return float(value)
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        reset = headers["x-ratelimit-reset"]
        if reset.isdigit():
            return max(0.0, float(reset) - (time.time() if now is None else now))
    return None
