"""A three-node Apache Kafka KRaft cluster on 127.0.0.1, for fault tests (issue 10).

Every node is broker and controller (a combined quorum of three voters), so
one node can die and the cluster still has a controller majority and, with
replication factor 3 and ``min.insync.replicas=2``, still takes ``acks=all``
writes. Each node is a :class:`LocalKafka` with its own folder and free ports.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from services.local.kafka import LocalKafka, LocalKafkaError, free_port, new_cluster_id
from services.local.kafka import wait_for_broker as _wait_for_broker


@dataclass(frozen=True)
class LocalKafkaCluster:
    """Nodes 1..n of one cluster; ``bootstrap`` names all of them."""

    nodes: tuple[LocalKafka, ...]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> LocalKafka:
        return next(node for node in self.nodes if node.node_id == node_id)

    def up(self, timeout: float = 120.0) -> str:
        """Start every node not running, together (a quorum needs a majority); wait for all."""
        for node in self.nodes:
            if not node.is_running():
                node.spawn()
        try:
            _each(lambda node: _wait_for_broker(node.bootstrap, timeout), self.nodes)
        except LocalKafkaError:
            self.down()
            raise
        return self.bootstrap

    def down(self) -> None:
        _each(lambda node: node.down(), self.nodes)


def local_cluster(
    home: Path, size: int = 3, partitions: int = 4, heap: str = "512m"
) -> LocalKafkaCluster:
    """A cluster of ``size`` combined nodes under ``home``, on free loopback ports."""
    ports = [(free_port(), free_port()) for _ in range(size)]
    voters = ",".join(f"{n}@127.0.0.1:{ctl}" for n, (_, ctl) in enumerate(ports, start=1))
    member = partial(_member, home, voters, new_cluster_id(), size, partitions, heap)
    return LocalKafkaCluster(tuple(member(n, *p) for n, p in enumerate(ports, start=1)))


def _member(
    home: Path, voters: str, cluster_id: str, size: int, partitions: int, heap: str,
    node_id: int, port: int, controller_port: int,
) -> LocalKafka:  # fmt: skip
    return LocalKafka(
        home=home / f"node-{node_id}", port=port, controller_port=controller_port,
        partitions=partitions, node_id=node_id, voters=voters, replication=size,
        cluster_id=cluster_id, heap=heap,
    )  # fmt: skip


def _each(action: Callable[[LocalKafka], object], nodes: tuple[LocalKafka, ...]) -> None:
    """Run ``action(node)`` on every node at once; raise the first failure."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        for future in [pool.submit(action, node) for node in nodes]:
            future.result()
