"""The README documents every setting a service reads, and its two commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from services.api.settings import ApiSettings
from services.ingest.settings import IngestSettings
from services.router.settings import RouterSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("settings", [ApiSettings, IngestSettings, RouterSettings])
def test_every_setting_is_documented(settings: type[BaseSettings]) -> None:
    prefix = settings.model_config["env_prefix"]
    missing = [
        f"{prefix}{name.upper()}"
        for name in settings.model_fields
        if f"`{prefix}{name.upper()}`" not in README
    ]
    assert missing == []


def test_first_screen_has_the_two_commands_and_the_kafka_version() -> None:
    from services.local.kafka import KAFKA_VERSION

    first_screen = "\n".join(README.splitlines()[:25])
    assert "make demo" in first_screen
    assert "make test" in first_screen
    assert f"Apache Kafka {KAFKA_VERSION}" in first_screen
    assert "HANDOFF_KAFKA_BOOTSTRAP" in first_screen


@pytest.mark.parametrize(
    ("action", "model"),
    [("rejected", "ReasonRequest"), ("reassigned", "ReassignRequest")],
)
def test_lifecycle_names_the_fields_the_api_takes(action: str, model: str) -> None:
    from services.api.payloads import actions

    lifecycle = README[README.index("**Lifecycle.**") :].split("\n\n")[0]
    described = lifecycle[lifecycle.index(f"`{action}` (") :].split(")")[0]
    fields = getattr(actions, model).model_fields
    assert "message" in fields
    assert "`message`" in described
    assert "reason" not in fields
    assert "with a reason" not in lifecycle
