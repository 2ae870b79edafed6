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


def test_defaults_keep_only_support_unsigned() -> None:
    assert IngestSettings().ingest_unsigned_sources == ("support",)


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
