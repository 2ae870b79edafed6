"""The signed session cookie and the CSRF check."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from services.api.dashboard.session import (
    SALT,
    DashboardSession,
    SessionCodec,
    csrf_ok,
    new_session,
    secret_from_env,
)


def test_a_session_survives_the_round_trip() -> None:
    codec = SessionCodec("s3cret")
    session = new_session("ab" * 32)
    assert codec.loads(codec.dumps(session)) == session


def test_a_tampered_or_foreign_cookie_is_no_session() -> None:
    codec = SessionCodec("s3cret")
    value = codec.dumps(new_session("ab" * 32))
    assert codec.loads(value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]) is None
    assert SessionCodec("another").loads(value) is None
    assert codec.loads("") is None
    assert codec.loads(None) is None


def test_a_signed_but_malformed_session_is_no_session() -> None:
    signer = URLSafeTimedSerializer("s3cret", salt=SALT)
    codec = SessionCodec("s3cret")
    assert codec.loads(signer.dumps(["not", "a", "session"])) is None
    assert codec.loads(signer.dumps({"t": "ab"})) is None
    assert codec.loads(signer.dumps({"c": "x", "t": 5})) == DashboardSession(csrf="x")


def test_an_expired_session_is_no_session() -> None:
    codec = SessionCodec("s3cret", max_age_s=-1)
    assert codec.loads(codec.dumps(new_session())) is None


def test_the_csrf_token_must_be_the_sessions() -> None:
    session = new_session()
    assert csrf_ok(session, session.csrf)
    assert not csrf_ok(session, session.csrf + "x")
    assert not csrf_ok(session, "")
    assert not csrf_ok(session, None)
    assert not csrf_ok(None, session.csrf)


def test_every_session_has_its_own_csrf_token() -> None:
    assert new_session().csrf != new_session().csrf
    assert not new_session().signed_in
    assert new_session("ab").signed_in


@pytest.mark.parametrize(("environ", "fixed"), [({"HANDOFF_DASHBOARD_SECRET": "k"}, True),
                                                 ({}, False)])  # fmt: skip
def test_the_secret_comes_from_the_environment(environ: dict[str, str], fixed: bool) -> None:
    assert (secret_from_env(environ) == secret_from_env(environ)) is fixed
