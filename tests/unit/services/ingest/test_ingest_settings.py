"""Ingest's settings: secrets per source from the environment, validated at start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.ingest.settings import IngestSettings


def test_secrets_come_from_the_environment_and_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_INGEST_SECRET_ZENDESK", "zd-secret")
    monkeypatch.setenv("HANDOFF_INGEST_UNSIGNED_SOURCES", '["support", "sales"]')
    settings = IngestSettings()
    assert settings.secret("zendesk") == b"zd-secret"
    assert settings.secret("hubspot") is None
    assert settings.ingest_unsigned_sources == ("support", "sales")
    assert "zd-secret" not in repr(settings)


def test_no_source_is_unsigned_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16.9: never unsigned by default; the demo sets the list explicitly."""
    monkeypatch.delenv("HANDOFF_INGEST_UNSIGNED_SOURCES", raising=False)
    assert IngestSettings().ingest_unsigned_sources == ()


def test_sources_come_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "HANDOFF_INGEST_SOURCES",
        '{"freshdesk": {"schemes": ["path"], "labels": {"component": {"custom_field": "cf_a"}}},'
        ' "hubspot": {"public_url": "https://handoff.example.com"}}',
    )
    settings = IngestSettings()
    freshdesk = settings.source("freshdesk")
    assert freshdesk is not None
    assert freshdesk.schemes == ("path",)
    assert freshdesk.labels["component"].custom_field == "cf_a"
    assert settings.source("zendesk") is None


@pytest.mark.parametrize(
    ("sources", "says"),
    [
        ({"zendsk": {}}, "unknown source"),
        ({"hubspot": {"schemes": ["hmac"]}}, "schemes"),
        ({"zendesk": {"labels": {"component": {"custom_feld": "1"}}}}, "custom_feld"),
        ({"zendesk": {"labels": {"bad name": {"custom_field": "1"}}}}, "bad name"),
    ],
)
def test_bad_source_settings_fail_at_start(sources: object, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        IngestSettings.model_validate({"ingest_sources": sources})


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("ingest_unsigned_sources", ("zendsk",), "unknown source"),
        ("ingest_raw_sources", ("jira",), "unknown source"),
        ("ingest_loss_reasons", ("budget", "timing"), "'other'"),
        ("ingest_signature_max_skew_s", 0, "greater than 0"),
    ],
)
def test_bad_settings_fail_at_start(field: str, value: object, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        IngestSettings.model_validate({field: value})
