"""Run a single-node Apache Kafka (KRaft, broker+controller) on 127.0.0.1.

The broker is Apache Kafka's own jars, resolved from Maven Central by
``deploy/kafka/pom.xml`` into a cache outside the work tree. Nothing here is
used when ``HANDOFF_KAFKA_BOOTSTRAP`` points at an existing cluster.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

KAFKA_VERSION = "4.4.0"
# Brokers this process started, by PID: kept so they are reaped, not leaked.
_STARTED: dict[int, subprocess.Popen[bytes]] = {}
REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"


class LocalKafkaError(RuntimeError):
    """The local broker could not be fetched, started or reached."""


def cache_dir() -> Path:
    base = os.environ.get("HANDOFF_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "handoff"
    )
    return Path(base)


def ensure_jars(version: str = KAFKA_VERSION) -> Path:
    """Resolve the broker's classpath with Maven once; return the jar folder."""
    libs = cache_dir() / f"kafka-{version}" / "libs"
    done = libs / ".complete"
    if done.exists():
        return libs
    if shutil.which("mvn") is None:
        raise LocalKafkaError("Maven (mvn) is needed to fetch Apache Kafka's jars; install it")
    libs.mkdir(parents=True, exist_ok=True)
    print(f"fetching Apache Kafka {version} jars from Maven Central into {libs} ...", flush=True)
    cmd = [
        "mvn", "-q", "-B", "-f", str(DEPLOY_DIR / "pom.xml"),
        "dependency:copy-dependencies", "-DincludeScope=runtime",
        f"-Dkafka.version={version}", f"-DoutputDirectory={libs}",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise LocalKafkaError(f"mvn failed to fetch Kafka {version}:\n{result.stdout[-4000:]}")
    done.write_text(version)
    return libs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair(attempts: int = 50) -> int:
    """A free port whose next port is free too: `handoff kafka up`'s controller takes it."""
    for _ in range(attempts):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise OSError("no two consecutive free ports on 127.0.0.1")


@dataclass(frozen=True)
class LocalKafka:
    """One broker's state folder and ports. Its files say whether it runs."""

    home: Path
    port: int = 9092
    controller_port: int = 9093
    partitions: int = 4
    version: str = KAFKA_VERSION
    # A member of a cluster (services/local/kafka_cluster.py): its node id, every
    # voter ("1@127.0.0.1:port,..."), the replication the cluster gives, its id.
    node_id: int = 1
    voters: str = ""
    replication: int = 1
    cluster_id: str = ""
    heap: str = "768m"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def up(self, timeout: float = 90.0) -> str:
        """Start the broker unless it runs already; wait until it answers."""
        if self.is_running():
            wait_for_broker(self.bootstrap, timeout)
            return self.bootstrap
        proc = self.spawn()
        try:
            wait_for_broker(self.bootstrap, timeout, proc)
        except LocalKafkaError:
            self.down()
            raise
        return self.bootstrap

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the JVM (formatting its storage the first time); do not wait for it.

        A cluster's members are spawned together: none answers before a quorum runs.
        """
        libs = ensure_jars(self.version)
        self.home.mkdir(parents=True, exist_ok=True)
        props = self._write_properties()
        java = _java()
        classpath = f"{libs}/*"
        if not (self.home / "data" / "meta.properties").exists():
            self._format(java, classpath, props)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                [
                    java, "-Xms256m", f"-Xmx{self.heap}", "-XX:+UseG1GC",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={DEPLOY_DIR / 'log4j2.properties'}",
                    "-cp", classpath, "kafka.Kafka", str(props),
                ],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        _STARTED[proc.pid] = proc
        self.pid_file.write_text(str(proc.pid))
        return proc

    def kill(self) -> bool:
        """SIGKILL the broker (a crash: no controlled shutdown); reap it."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        return self.down()

    def down(self, timeout: float = 30.0) -> bool:
        """Stop the broker by its PID; return whether one was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        if (proc := _STARTED.pop(pid, None)) is not None:
            proc.wait()
        self.pid_file.unlink(missing_ok=True)
        return True

    def _write_properties(self) -> Path:
        path = self.home / "server.properties"
        path.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    f"node.id={self.node_id}",
                    f"controller.quorum.voters={self.quorum_voters}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.home / 'data'}",
                    f"num.partitions={self.partitions}",
                    f"default.replication.factor={self.replication}",
                    f"min.insync.replicas={self.min_insync}",
                    f"offsets.topic.replication.factor={self.replication}",
                    "offsets.topic.num.partitions=8",
                    f"transaction.state.log.replication.factor={self.replication}",
                    f"transaction.state.log.min.isr={self.min_insync}",
                    f"share.coordinator.state.topic.replication.factor={self.replication}",
                    f"share.coordinator.state.topic.min.isr={self.min_insync}",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                    "log.retention.hours=24",
                    "log.segment.bytes=67108864",
                    *self._failover(),
                    "",
                ]
            )
        )
        return path

    def _failover(self) -> list[str]:
        """In a cluster, a dead broker's partitions get new leaders in seconds, not 9 s.

        Not on a lone broker: it would only fence itself on a loaded machine.
        """
        if self.replication == 1:
            return []
        return ["broker.heartbeat.interval.ms=1000", "broker.session.timeout.ms=4000"]

    @property
    def quorum_voters(self) -> str:
        return self.voters or f"{self.node_id}@127.0.0.1:{self.controller_port}"

    @property
    def min_insync(self) -> int:
        """A majority of the replicas: 1 of 1, 2 of 3 (acks=all survives one loss)."""
        return self.replication // 2 + 1

    def _format(self, java: str, classpath: str, props: Path) -> None:
        cluster_id = self.cluster_id or new_cluster_id()
        cmd = [
            java, f"-Dlog4j2.configurationFile={DEPLOY_DIR / 'log4j2.properties'}",
            "-cp", classpath, "kafka.tools.StorageTool", "format",
            "-t", cluster_id, "-c", str(props), "--ignore-formatted",
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise LocalKafkaError(
                f"formatting KRaft storage failed:\n{result.stdout}{result.stderr}"
            )


def new_cluster_id() -> str:
    """A KRaft cluster id: base64url of a random UUID, never starting with '-'.

    The storage tool's argument parser reads a leading '-' as an option (as
    Kafka's own ``Uuid.randomUuid`` knows, and avoids the same way).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def default_local_kafka() -> LocalKafka:
    """The broker `handoff kafka up` and `handoff demo` run: ``var/kafka`` on :9092.

    ``HANDOFF_LOCAL_KAFKA_HOME`` and ``HANDOFF_LOCAL_KAFKA_PORT`` move it (the
    controller listens on the next port).
    """
    port = int(os.environ.get("HANDOFF_LOCAL_KAFKA_PORT", "9092"))
    home = Path(os.environ.get("HANDOFF_LOCAL_KAFKA_HOME", "var/kafka"))
    return LocalKafka(home=home, port=port, controller_port=port + 1)


def wait_for_broker(
    bootstrap: str, timeout: float, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until the broker answers a metadata request, or raise."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    host, _, port = bootstrap.rpartition(":")
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise LocalKafkaError(f"broker exited with code {proc.returncode}; see its log")
        # A plain connect first: kafka-python backs off for seconds (and leaks a
        # socket) on every refused connection while the JVM is still starting.
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except OSError as exc:
            last = exc
            time.sleep(0.2)
            continue
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
            try:
                admin.list_topics()
                return
            finally:
                admin.close()
        except (KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.5)
    raise LocalKafkaError(f"broker at {bootstrap} did not answer within {timeout:.0f}s: {last}")


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java:
        raise LocalKafkaError("Java 17+ is needed to run the local Kafka broker")
    return java


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
