"""Reading a request's body at the HTTP edge: media type, size, then the one JSON decoder.

Every refusal is a :class:`RequestRejectedError` carrying its status (400, 413, 415,
422), the metric outcome and a detail that names the field and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from schemas.events import SupportTicket
from services.core.errors import HandoffError
from services.ingest.adapters.base import AdapterError
from services.ingest.decoding import JsonLimits, decode_json

JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv"


class RequestRejectedError(HandoffError):
    """A request ingest refuses: its HTTP status, metric outcome and detail."""

    def __init__(
        self,
        status: int,
        outcome: str,
        detail: str | list[dict[str, Any]],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.outcome = outcome
        self.detail = detail
        self.headers = dict(headers or {})

    @classmethod
    def unusable(cls, exc: AdapterError) -> RequestRejectedError:
        """The 422 for a payload an adapter (or the decoder) refused."""
        return cls(422, "rejected", exc.errors)

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": self.detail}, status_code=self.status, headers=self.headers)


async def read_json_body(request: Request, limit: int) -> bytes:
    """The body of a JSON request, refusing other media types and more than ``limit`` bytes."""
    return await read_body(request, limit, JSON_MEDIA_TYPE)


async def read_body(request: Request, limit: int, media_type: str) -> bytes:
    """The body of a request of ``media_type``, refusing others and more than ``limit`` bytes."""
    require_media(request.headers, media_type)
    _check_declared_length(request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise RequestRejectedError(400, "rejected", "the client went away mid-body") from None
    return b"".join(chunks)


def require_json(headers: Mapping[str, str]) -> None:
    require_media(headers, JSON_MEDIA_TYPE)


def require_media(headers: Mapping[str, str], expected: str) -> None:
    raw = headers.get("content-type", "")
    media_type, _, rest = raw.partition(";")
    if media_type.strip().lower() != expected:
        got = f"got {raw!r}" if raw else "none given"
        raise _unsupported(f"Content-Type must be {expected} ({got})")
    params = dict(_param(p) for p in rest.split(";") if p.strip())
    if params.get("charset", "utf-8") not in ("utf-8", "utf8") and expected != CSV_MEDIA_TYPE:
        raise _unsupported(f"the body must be UTF-8 (got charset={params['charset']})")
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _unsupported(f"Content-Encoding {encoding!r} is not supported; send plain JSON")


def parse_ticket(body: bytes, limits: JsonLimits | None = None) -> SupportTicket:
    """Validate the body as a SupportTicket; every problem named by field and reason."""
    payload = parse_json(body, limits)
    try:
        return SupportTicket.model_validate(payload)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [
            {"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False)
        ]
        raise RequestRejectedError(422, "rejected", errors) from None


def parse_json(body: bytes, limits: JsonLimits | None = None) -> object:
    """The body as JSON (any shape: the adapter judges it), or a 422 saying why not."""
    try:
        return decode_json(body, limits or JsonLimits())
    except AdapterError as exc:
        raise RequestRejectedError.unusable(exc) from None


def _check_declared_length(declared: str | None, limit: int) -> None:
    if declared is None:
        return
    if not declared.strip().isdigit():
        raise RequestRejectedError(400, "rejected", f"Content-Length {declared!r} is not a number")
    if int(declared) > limit:
        raise _too_large(limit)


def _param(part: str) -> tuple[str, str]:
    name, _, value = part.partition("=")
    return name.strip().lower(), value.strip().strip('"').lower()


def _too_large(limit: int) -> RequestRejectedError:
    return RequestRejectedError(413, "too_large", f"the body is larger than {limit} bytes")


def _unsupported(detail: str) -> RequestRejectedError:
    return RequestRejectedError(415, "unsupported_media", detail)
