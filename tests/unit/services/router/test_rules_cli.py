"""`handoff rules publish`: refused files and an absent broker are one line and exit 1."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.local.kafka import free_port

EXAMPLE = str(Path(__file__).resolve().parents[4] / "deploy" / "config" / "routing.yaml")


# No Kafka client is built when nothing listens (kafka-python would leave its sockets
# to the garbage collector, a ResourceWarning, an error here): a TCP probe says so first.
def test_no_broker_is_one_line_on_stderr_and_exit_1(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="kafka")  # its records would keep sockets alive
    bootstrap = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = CliRunner().invoke(
        app, ["rules", "publish", EXAMPLE, "--bootstrap", bootstrap, "--timeout", "0.5"]
    )
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: nothing published: no broker took it at {bootstrap}")
    assert "Connection refused" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_file_that_does_not_load_is_refused_before_any_broker(tmp_path: Path) -> None:
    bad = tmp_path / "r.yaml"
    bad.write_text("teams: {a: {}}\nroute: {team: nobody}\n")
    result = CliRunner().invoke(
        app, ["rules", "publish", str(bad), "--bootstrap", f"127.0.0.1:{free_port()}"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"refused, nothing published: {bad}:2")
