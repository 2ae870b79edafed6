"""docker-compose.yml, deploy/Dockerfile and Prometheus agree with the code they run.

Docker cannot run here, so this checks what can go wrong silently: a command
the CLI does not have, a HANDOFF_* variable no settings class reads, a port
that differs from the service's default, a scrape target that is not a service.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings
from typer.main import get_command

from services.api.settings import ApiSettings
from services.cli import app as cli_app
from services.ingest.settings import IngestSettings
from services.router.settings import RouterSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"

# The settings class each `handoff <command>` builds (see services/cli.py).
SETTINGS_OF_COMMAND: dict[str, type[BaseSettings]] = {
    "serve ingest": IngestSettings,
    "serve raw-ingest": IngestSettings,
    "serve router": RouterSettings,
    "serve api": ApiSettings,
    "topics": RouterSettings,
}
# The services that serve HTTP and the settings field holding their port.
PORT_FIELDS = {
    "ingest": "ingest_port",
    "raw-ingest": "ingest_raw_port",
    "router": "router_web_port",
    "api": "api_port",
}
HOST_FIELDS = {
    "ingest": "ingest_host",
    "raw-ingest": "ingest_raw_host",
    "router": "router_web_host",
    "api": "api_host",
}
# Third-party images that bring their own command.
IMAGES_WITH_COMMAND = ("apache/kafka:", "postgres:", "prom/prometheus:", "grafana/grafana:")
GRAFANA = ROOT / "deploy" / "grafana"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    compose = load(COMPOSE)
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def handoff_command(service: dict[str, Any]) -> str | None:
    command = service.get("command")
    if command is None:
        return None
    words = command.split() if isinstance(command, str) else list(command)
    assert words[0] == "handoff", f"command {words} is not the handoff CLI"
    return " ".join(str(w) for w in words[1:])


def cli_has(command: str) -> bool:
    """Whether `handoff <command>` names a command (through sub-command groups)."""
    node: Any = get_command(cli_app)
    for word in command.split():
        node = getattr(node, "commands", {}).get(word)
        if node is None:
            return False
    return not hasattr(node, "commands")


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_the_expected_services_are_there(services: dict[str, dict[str, Any]]) -> None:
    handoff = {"topics", "ingest", "raw-ingest", "router", "api"}
    assert {"kafka", "postgres", "prometheus", "grafana", *handoff} <= set(services)
    assert services["kafka"]["image"] == "apache/kafka:4.4.0"
    assert services["postgres"]["image"].startswith("postgres:16")


def test_every_service_has_a_command(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "command" in service:
            command = handoff_command(service)
            assert command is not None
            assert cli_has(command), f"{name}: `handoff {command}` is not a CLI command"
            assert command in SETTINGS_OF_COMMAND, f"{name}: which settings does {command} read?"
            assert "build" in service, f"{name} runs handoff but does not build its image"
            assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        else:
            assert str(service.get("image", "")).startswith(IMAGES_WITH_COMMAND), name


def test_every_handoff_variable_is_a_settings_field(services: dict[str, dict[str, Any]]) -> None:
    checked = 0
    for name, service in services.items():
        command = handoff_command(service)
        env = environment(service)
        handoff_vars = {k for k in env if k.startswith("HANDOFF_")}
        if command is None:
            assert not handoff_vars, f"{name} is not a handoff service but sets {handoff_vars}"
            continue
        unknown = handoff_vars - env_names(SETTINGS_OF_COMMAND[command])
        assert not unknown, f"{name}: no settings field reads {sorted(unknown)}"
        checked += len(handoff_vars)
    assert checked > 0


def test_settings_accept_the_values_compose_gives(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for service in services.values():
        if (command := handoff_command(service)) is None:
            continue
        with monkeypatch.context() as env:
            for key, value in environment(service).items():
                env.setenv(key, value)
            settings = SETTINGS_OF_COMMAND[command]()
        assert settings.kafka_bootstrap == "kafka:9092"  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(PORT_FIELDS))
def test_http_services_listen_on_all_interfaces_on_their_default_port(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    settings = SETTINGS_OF_COMMAND[str(handoff_command(service))]
    default_port = settings.model_fields[PORT_FIELDS[name]].default
    assert environment(service)[f"HANDOFF_{HOST_FIELDS[name].upper()}"] == "0.0.0.0"
    assert f"HANDOFF_{PORT_FIELDS[name].upper()}" not in environment(service)
    assert service["ports"] == [f"{default_port}:{default_port}"]


def test_default_ports_are_the_documented_ones() -> None:
    assert IngestSettings.model_fields["ingest_port"].default == 8001
    assert IngestSettings.model_fields["ingest_raw_port"].default == 8002
    assert ApiSettings.model_fields["api_port"].default == 8000
    assert RouterSettings.model_fields["router_web_port"].default == 6066


def test_kafka_advertises_the_address_the_services_use(
    services: dict[str, dict[str, Any]],
) -> None:
    kafka = environment(services["kafka"])
    assert "PLAINTEXT://kafka:9092" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for name, service in services.items():
        if handoff_command(service) is not None:
            assert environment(service)["HANDOFF_KAFKA_BOOTSTRAP"] == "kafka:9092", name


def test_services_wait_for_the_topics_and_the_database(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in PORT_FIELDS:
        condition = services[name]["depends_on"]["topics"]["condition"]
        assert condition == "service_completed_successfully", name
    api_env = environment(services["api"])
    assert api_env["HANDOFF_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in api_env["HANDOFF_DATABASE_URL"]
    # Secrets come from the environment: compose refuses to start without them.
    assert ":${POSTGRES_PASSWORD:?" in api_env["HANDOFF_DATABASE_URL"]
    postgres_env = environment(services["postgres"])
    assert postgres_env["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert services["api"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_prometheus_scrapes_exactly_the_http_services(
    services: dict[str, dict[str, Any]],
) -> None:
    config = load(PROMETHEUS)
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    expected = {
        f"{name}:{SETTINGS_OF_COMMAND[str(handoff_command(services[name]))].model_fields[field].default}"
        for name, field in PORT_FIELDS.items()
    }
    assert targets == expected
    assert all(
        job.get("metrics_path", "/metrics") == "/metrics" for job in config["scrape_configs"]
    )
    mounts = services["prometheus"]["volumes"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts


def test_files_mounted_from_the_repository_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_the_image_installs_the_package_with_what_it_needs() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    assert re.search(r"^RUN pip install \.$", dockerfile, re.MULTILINE)
    copied = re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE)
    sources = [src for line in copied for src in line.split()]
    for source in sources:
        assert (ROOT / source).exists(), f"the Dockerfile copies missing {source}"
    assert {"pyproject.toml", "schemas", "services"} <= set(sources)
    # the rules file the router and topics services are pointed at is in the image
    assert "deploy/config" in sources
    assert (ROOT / "deploy" / "config" / "routing.yaml").exists()


def test_prometheus_loads_the_mounted_rule_files(services: dict[str, dict[str, Any]]) -> None:
    config = load(PROMETHEUS)
    assert config["rule_files"] == ["rules/*.yml"]  # relative to /etc/prometheus/prometheus.yml
    mounts = services["prometheus"]["volumes"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in mounts
    assert list((PROMETHEUS.parent / "rules").glob("*.yml"))


def test_grafana_is_provisioned_with_prometheus_and_the_dashboards(
    services: dict[str, dict[str, Any]],
) -> None:
    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    mounts = grafana["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    dashboards = "./deploy/grafana/dashboards:/var/lib/grafana/dashboards/handoff:ro"
    assert dashboards in mounts
    providers = load(GRAFANA / "provisioning" / "dashboards" / "handoff.yml")["providers"]
    assert providers[0]["options"]["path"] == dashboards.split(":")[1]
    datasource = load(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
    url = datasource["datasources"][0]["url"]
    assert url == f"http://prometheus:{services['prometheus']['ports'][0].split(':')[1]}"
    # no default password: compose refuses to start without one
    assert environment(grafana)["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_PASSWORD:?")
    assert "prometheus" in grafana["depends_on"]


# raw-ingest serves only /healthz, which is 200 only while its loop consumes.
READINESS_PATHS = {"ingest": "/readyz", "router": "/readyz", "api": "/readyz",
                   "raw-ingest": "/healthz"}  # fmt: skip


@pytest.mark.parametrize(("name", "path"), sorted(READINESS_PATHS.items()))
def test_each_http_service_is_healthy_only_when_ready(
    services: dict[str, dict[str, Any]], name: str, path: str
) -> None:
    """Compose waits on, and restarts by, readiness (issue 10): its port and path."""
    port = PORT_FIELDS[name]
    default = SETTINGS_OF_COMMAND[handoff_command(services[name]) or ""].model_fields[port].default
    probe = " ".join(str(word) for word in services[name]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{default}{path}'" in probe
