from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

from schemas.dlq import DeadLetter

AT = datetime(2026, 11, 20, 9, 0, tzinfo=timezone(timedelta(hours=9)))


def make_letter(key: bytes | None = b"example.co.jp", value: bytes | None = b"{}") -> DeadLetter:
    return DeadLetter.from_raw(
        reason="not a CloudEvent: id: Field required",
        error_type="InvalidCloudEvent",
        topic="handoff.ingest.support",
        partition=2,
        offset=41,
        key=key,
        value=value,
        service="router",
        at=AT,
    )


def test_keeps_the_original_bytes_exactly_even_when_not_utf8() -> None:
    raw = "請求書".encode() + b"\xff\x00"
    letter = make_letter(value=raw)
    assert letter.original_value() == raw
    assert letter.value == "請求書\ufffd\x00"
    assert letter.value_b64 == base64.b64encode(raw).decode()


def test_wire_form_has_the_agreed_fields_and_round_trips() -> None:
    letter = make_letter(value="ログインできません".encode())
    body = json.loads(letter.to_bytes())
    assert set(body) == {
        "reason", "error_type", "topic", "partition", "offset", "key", "value", "value_b64",
        "service", "at",
    }  # fmt: skip
    assert body["value"] == "ログインできません"
    assert body["key"] == "example.co.jp"
    assert (body["partition"], body["offset"]) == (2, 41)
    assert datetime.fromisoformat(body["at"]) == AT
    assert DeadLetter.from_bytes(letter.to_bytes()) == letter
    assert letter.at.tzinfo == UTC


def test_a_missing_key_and_value_are_kept_as_such() -> None:
    letter = make_letter(key=None, value=None)
    assert letter.key is None
    assert (letter.value, letter.value_b64) == ("", "")
    assert letter.original_value() == b""


def test_a_dead_letter_of_a_consumed_record_keeps_where_it_came_from() -> None:
    from dataclasses import dataclass
    from datetime import UTC, datetime

    from schemas.dlq import DeadLetter

    @dataclass(frozen=True)
    class Record:
        topic: str = "handoff.raw.support"
        partition: int = 3
        offset: int = 41
        key: bytes | None = b"acme"
        value: bytes | None = b"\xff{"

    at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    letter = DeadLetter.of_record(
        Record(), reason="not JSON", error_type="InvalidJson", service="router", at=at
    )
    assert (letter.topic, letter.partition, letter.offset, letter.key) == (
        "handoff.raw.support",
        3,
        41,
        "acme",
    )
    assert letter.original_value() == b"\xff{"
    assert (letter.reason, letter.error_type, letter.service, letter.at) == (
        "not JSON",
        "InvalidJson",
        "router",
        at,
    )
