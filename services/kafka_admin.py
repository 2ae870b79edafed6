"""Topic administration with kafka-python: create what handoff needs, idempotently."""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas import topics


def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int) -> list[str]:
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
                admin.create_topics([NewTopic(name, partitions, 1)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


def ensure_handoff_topics(bootstrap: str, teams: Iterable[str], partitions: int) -> list[str]:
    names = [*topics.FIXED, *(topics.team_topic(t) for t in sorted(set(teams)))]
    return ensure_topics(bootstrap, names, partitions)
