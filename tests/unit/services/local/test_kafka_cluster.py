"""The three-broker cluster's configuration (issue 10); running it: test_chaos_broker."""

from __future__ import annotations

from pathlib import Path

from services.local.kafka import LocalKafka
from services.local.kafka_cluster import local_cluster


def properties(node: LocalKafka) -> dict[str, str]:
    node.home.mkdir(parents=True, exist_ok=True)
    text = node._write_properties().read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_three_nodes_share_one_quorum_and_cluster_id(tmp_path: Path) -> None:
    cluster = local_cluster(tmp_path, size=3)
    voters = {properties(node)["controller.quorum.voters"] for node in cluster.nodes}
    assert len(voters) == 1
    assert [v.split("@")[0] for v in voters.pop().split(",")] == ["1", "2", "3"]
    assert [properties(node)["node.id"] for node in cluster.nodes] == ["1", "2", "3"]
    assert len({node.cluster_id for node in cluster.nodes}) == 1
    assert cluster.bootstrap.count(",") == 2


def test_a_cluster_of_three_replicates_three_times_and_needs_two_in_sync(tmp_path: Path) -> None:
    props = properties(local_cluster(tmp_path, size=3).node(2))
    for name in ("default.replication.factor", "offsets.topic.replication.factor",
                 "transaction.state.log.replication.factor"):  # fmt: skip
        assert props[name] == "3", name
    assert props["min.insync.replicas"] == "2"
    assert props["transaction.state.log.min.isr"] == "2"


def test_a_single_broker_keeps_its_replication_of_one(tmp_path: Path) -> None:
    props = properties(LocalKafka(home=tmp_path, port=1, controller_port=2))
    assert props["controller.quorum.voters"] == "1@127.0.0.1:2"
    assert props["default.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
