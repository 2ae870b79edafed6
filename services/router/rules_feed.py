"""Hot reload: rule sets published to the compacted ``handoff.rules`` topic.

``publish_rules`` validates a rule file (``read_routing_rules``: a file that
fails to load is refused and never published) and produces
``{"version", "name", "yaml"}`` under a key (``current`` by default; a
deployment or a test can use its own) with acks=all. Every router worker
reads the topic from the start when it boots (``initial_rules``: the newest
published set wins over the file) and then follows it (``RulesFeed``, a
thread with its own group-less consumer, so *every* worker sees every
version) and swaps the ``RulesHolder``'s rule set: the next event is routed
by the new version, with no restart. A record that does not load (it cannot
come from ``publish``) is logged and skipped; the worker keeps its rules.

kafka-python, not Faust: ``app.py`` stays the only module that imports faust.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from schemas import topics
from services.core.errors import RuleError
from services.core.routing import RoutingRules
from services.kafka_admin import ensure_rules_topic
from services.router.rules_file import parse_routing_rules, read_routing_rules

log = logging.getLogger(__name__)

DEFAULT_KEY: Final = "current"
_PARTITION: Final = TopicPartition(topics.RULES, 0)


class RulesHolder:
    """The rule set in force; swapped whole (a reference assignment), never mutated."""

    def __init__(self, rules: RoutingRules) -> None:
        self.current = rules

    def swap(self, rules: RoutingRules) -> bool:
        """Take ``rules``; False when that version is already in force."""
        if rules.version == self.current.version:
            return False
        self.current = rules
        return True


def publish_rules(path: Path | str, bootstrap: str, *, key: str = DEFAULT_KEY) -> RoutingRules:
    """Validate and publish a rule file; ``RuleError`` (nothing published) if it does not load."""
    rules = read_routing_rules(path)
    text = Path(path).read_text(encoding="utf-8")
    body = {"version": rules.version, "name": Path(path).name, "yaml": text}
    ensure_rules_topic(bootstrap)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    try:
        value = json.dumps(body, ensure_ascii=False).encode("utf-8")
        producer.send(topics.RULES, key=key.encode("utf-8"), value=value).get(timeout=30)
    finally:
        producer.close()
    return rules


def rules_from_record(value: bytes | None) -> RoutingRules:
    """The rule set in a ``handoff.rules`` record (``RuleError`` if it does not load)."""
    try:
        body = json.loads(value or b"")
        raw = str(body["yaml"]).encode("utf-8")
        name = str(body.get("name", "published"))
    except (ValueError, KeyError, TypeError) as exc:
        raise RuleError(topics.RULES, f"not a published rule set: {exc!r}") from None
    return parse_routing_rules(raw, name=f"{topics.RULES}:{name}", base=Path.cwd())


def initial_rules(path: Path | str, bootstrap: str, *, key: str = DEFAULT_KEY) -> RoutingRules:
    """The newest published rule set under ``key``, else the file's (which must load)."""
    from_file = read_routing_rules(path)
    ensure_rules_topic(bootstrap)
    consumer = _consumer(bootstrap)
    try:
        latest = _read_to_end(consumer, key)
    finally:
        consumer.close()
    if latest is None:
        return from_file
    try:
        return rules_from_record(latest)
    except RuleError as exc:
        log.error("published rule set refused, using %s: %s", path, exc)
        return from_file


class RulesFeed:
    """Follows ``handoff.rules`` in a thread and swaps the holder's rules on a new version."""

    def __init__(
        self,
        bootstrap: str,
        holder: RulesHolder,
        *,
        key: str = DEFAULT_KEY,
        on_new_teams: Callable[[Iterable[str]], Any] | None = None,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._holder = holder
        self._key = key.encode("utf-8")
        self._on_new_teams = on_new_teams
        self._on_outcome = on_outcome
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="handoff-rules-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                consumer = _consumer(self._bootstrap)
            except Exception:  # the broker is away: try again, keep the rules in force
                log.warning("rules feed: cannot reach the broker; retrying", exc_info=True)
                self._stopping.wait(2.0)
                continue
            try:
                latest = _read_to_end(consumer, self._key.decode("utf-8"))
                if latest is not None:
                    self.apply(latest)
                self._follow(consumer)
            except Exception:
                log.exception("rules feed: consumer failed; reconnecting")
                self._stopping.wait(1.0)
            finally:
                consumer.close()

    def _follow(self, consumer: KafkaConsumer) -> None:
        while not self._stopping.is_set():
            batch = consumer.poll(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    if record.key == self._key:
                        self.apply(record.value)

    def apply(self, value: bytes | None) -> None:
        try:
            rules = rules_from_record(value)
        except RuleError as exc:
            log.error("rules feed: refused a published rule set: %s", exc)
            self._count("refused")
            return
        if self._on_new_teams is not None:
            self._on_new_teams(rules.teams)
        if self._holder.swap(rules):
            log.info("rules feed: now routing with rules version %s", rules.version)
            self._count("applied")

    def _count(self, outcome: str) -> None:
        if self._on_outcome is not None:
            self._on_outcome(outcome)


def _consumer(bootstrap: str) -> KafkaConsumer:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    consumer.assign([_PARTITION])
    consumer.seek_to_beginning(_PARTITION)
    return consumer


def _read_to_end(consumer: KafkaConsumer, key: str) -> bytes | None:
    end = consumer.end_offsets([_PARTITION])[_PARTITION]
    wanted, latest = key.encode("utf-8"), None
    while consumer.position(_PARTITION) < end:
        for records in consumer.poll(timeout_ms=1000).values():
            for record in records:
                if record.key == wanted:
                    latest = record.value
    return latest
