"""The one "invalid message" exception family every consumer dead-letters by."""

from __future__ import annotations

from services.core.errors import HandoffError, InvalidMessageError


class _CappedError(InvalidMessageError):
    reason_limit = 5


def test_an_invalid_message_keeps_its_reason_and_error_type() -> None:
    exc = InvalidMessageError("data.team: not a team name", "InvalidTaskRouted")
    assert (exc.reason, exc.error_type) == ("data.team: not a team name", "InvalidTaskRouted")
    assert str(exc) == "data.team: not a team name"
    assert isinstance(exc, HandoffError)


def test_a_reason_limit_caps_the_reason_but_not_the_message() -> None:
    exc = _CappedError("0123456789", "Long")
    assert exc.reason == "01234"
    assert str(exc) == "0123456789"
