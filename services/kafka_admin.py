"""Topic administration with kafka-python: create what handoff needs, idempotently."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from schemas import topics

DEFAULT_KAFKA_PORT = 9092


def bootstrap_addresses(bootstrap: str) -> list[tuple[str, int]]:
    """``"a:9092,[::1]:9093"`` -> ``[("a", 9092), ("::1", 9093)]``."""
    addresses = []
    for item in filter(None, (part.strip() for part in bootstrap.split(","))):
        host, sep, port = item.rpartition(":")
        if not sep or "]" in port:  # no port given
            host, port = item, str(DEFAULT_KAFKA_PORT)
        if not port.isdigit():
            raise ValueError(f"Kafka bootstrap address {item!r} has no valid port")
        addresses.append((host.strip("[]"), int(port)))
    if not addresses:
        raise ValueError(f"no Kafka bootstrap address in {bootstrap!r}")
    return addresses


def probe_tcp(bootstrap: str, timeout_s: float) -> None:
    """Raise OSError unless one bootstrap address accepts a TCP connection in time.

    A cheap fail-fast before building a client: kafka-python 3.0.12 also leaves
    the socket of every refused bootstrap attempt to the garbage collector.
    """
    deadline = time.monotonic() + timeout_s
    failures = []
    for host, port in bootstrap_addresses(bootstrap):
        try:
            with socket.create_connection(
                (host, port), timeout=max(0.0, deadline - time.monotonic()) or 0.001
            ):
                return
        except OSError as exc:
            failures.append(f"{host}:{port}: {exc}")
    raise OSError("; ".join(failures))


def require_broker(bootstrap: str, timeout_s: float) -> None:
    """``KafkaConnectionError`` (a ``KafkaError``) unless a bootstrap address accepts TCP now.

    Call it before building a kafka-python client for a one-off job: a client that
    cannot reach a broker leaves its sockets to the garbage collector.
    """
    try:
        probe_tcp(bootstrap, timeout_s)
    except OSError as exc:
        raise KafkaConnectionError(f"no broker at {bootstrap} ({exc})") from exc


def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int,
    config: dict[str, str] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet; return the ones created.

    Every topic gets the same partition count, so Faust tables (whose changelog
    must match their source topic) and co-partitioned joins work.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="handoff-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [n for n in dict.fromkeys(names) if n not in existing]
        created = []
        for name in wanted:
            try:
                # replication -1: the broker's default.replication.factor (1 on one local
                # broker, 3 on a three-broker cluster: a topic survives a broker's loss)
                topic = NewTopic(name, partitions, -1, topic_configs=config or {})
                admin.create_topics([topic])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        _wait_for_leaders(admin, created, partitions)
        return created
    finally:
        admin.close()


def _wait_for_leaders(
    admin: KafkaAdminClient, names: list[str], partitions: int, timeout: float = 30.0
) -> None:
    """Wait until every partition of the new topics has a leader.

    A client reading metadata before that sees a topic with no partitions, and
    Faust refuses to write a table whose changelog it is.
    """
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        described = admin.describe_topics(pending)
        ready = {
            t["name"]
            for t in described
            if t.get("error_code") == 0
            and len(t.get("partitions") or []) == partitions
            and all(p.get("leader_id", -1) >= 0 for p in t["partitions"])
        }
        pending = [n for n in pending if n not in ready]
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"topics without partition leaders after {timeout}s: {pending}")
        if pending:
            time.sleep(0.1)


def ensure_handoff_topics(bootstrap: str, teams: Iterable[str], partitions: int) -> list[str]:
    names = [*topics.FIXED, *(topics.team_topic(t) for t in sorted(set(teams)))]
    return ensure_topics(bootstrap, names, partitions)


def ensure_rules_topic(bootstrap: str) -> list[str]:
    """The compacted, single-partition topic of published rule sets (one key: the current)."""
    config = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
    return ensure_topics(bootstrap, [topics.RULES], 1, config)


def partition_counts(bootstrap: str, names: Iterable[str]) -> dict[str, int]:
    """The partition count of each topic of ``names`` that exists."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="handoff-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [n for n in dict.fromkeys(names) if n in existing]
        described = admin.describe_topics(wanted) if wanted else []
        return {topic["name"]: len(topic["partitions"]) for topic in described}
    finally:
        admin.close()


def unmatched_partitions(bootstrap: str, names: Iterable[str], partitions: int) -> str | None:
    """What is wrong when a topic of ``names`` has other than ``partitions`` partitions.

    Faust keeps each table's changelog partitioned as the topic that feeds it; given a
    topic with fewer partitions it does not fail, it warns every 10 s and routes nothing
    from it. A topic auto-created by the broker (a producer writing before the router
    made it) gets the broker's num.partitions, 1 on a stock Kafka."""
    counts = partition_counts(bootstrap, names)
    wrong = {name: n for name, n in sorted(counts.items()) if n != partitions}
    if not wrong:
        return None
    found = "; ".join(f"{name} has {n}" for name, n in wrong.items())
    return (
        f"the topics the router reads and its tables' changelogs need "
        f"HANDOFF_TOPIC_PARTITIONS={partitions} partitions each, but {found}. Before the "
        f"first start, set HANDOFF_TOPIC_PARTITIONS to the topics' count; after it, add "
        f"partitions to the smaller ones (kafka-topics.sh --alter --partitions {partitions}) "
        f'once they are drained, since keys move (docs/runbook.md, "Topic partitions")'
    )


def ensure_router_topics(
    bootstrap: str,
    teams: Iterable[str],
    partitions: int,
    app_id: str,
    changelogs: Iterable[str] = (),
) -> list[str]:
    """Everything a router app reads or writes, its internal topics and the rules topic.

    The tables' changelogs are created here too, before the worker reads any
    metadata, so its first events never meet a changelog it sees no partitions of.
    """
    created = ensure_handoff_topics(bootstrap, teams, partitions)
    internal = [topics.router_topic(app_id, suffix) for suffix in topics.ROUTER_INTERNAL]
    created += ensure_topics(bootstrap, internal, partitions)
    created += ensure_topics(bootstrap, changelogs, partitions, {"cleanup.policy": "compact"})
    created += ensure_accounts_topic(bootstrap, partitions)
    return created + ensure_rules_topic(bootstrap)


def ensure_accounts_topic(bootstrap: str, partitions: int) -> list[str]:
    """The compacted topic of the API's alias map (名寄せ), keyed by alias, partitioned like
    the rest (the router relays each record under its key)."""
    config = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
    return ensure_topics(bootstrap, [topics.ACCOUNTS], partitions, config)
