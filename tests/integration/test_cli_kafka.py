"""`handoff kafka up / status / down` on a real broker, and the external-cluster switch."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kafka import KafkaAdminClient

from services.local.kafka import KAFKA_VERSION, free_port_pair
from tests.processes import handoff_cli


def handoff(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return handoff_cli(env, *args, cwd=cwd, timeout=180)


def test_kafka_up_status_down(tmp_path: Path) -> None:
    port = free_port_pair()  # the controller listens on the next port
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["HANDOFF_LOCAL_KAFKA_PORT"] = str(port)
    try:
        assert handoff("kafka", "status", cwd=tmp_path, env=env).returncode == 1

        up = handoff("kafka", "up", cwd=tmp_path, env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"Kafka {KAFKA_VERSION} is up at 127.0.0.1:{port}" in up.stdout
        admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
        admin.close()

        status = handoff("kafka", "status", cwd=tmp_path, env=env)
        assert status.returncode == 0
        assert f"running at 127.0.0.1:{port}" in status.stdout
        again = handoff("kafka", "up", cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
    finally:
        down = handoff("kafka", "down", cwd=tmp_path, env=env)
    assert "Kafka stopped" in down.stdout
    assert handoff("kafka", "status", cwd=tmp_path, env=env).returncode == 1
    assert not (tmp_path / "var" / "kafka" / "broker.pid").exists()


def test_external_cluster_starts_no_broker(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["HANDOFF_KAFKA_BOOTSTRAP"] = "127.0.0.1:1"
    up = handoff("kafka", "up", cwd=tmp_path, env=env)
    assert up.returncode == 0
    assert "using 127.0.0.1:1, starting no broker" in up.stdout
    assert not (tmp_path / "var").exists()
