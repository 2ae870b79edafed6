"""Hot reload: rule sets published to the compacted ``handoff.rules`` topic.

``publish_rules_text`` validates rule-file text (``parse_routing_rules``: text
that fails to load is refused and never published) and produces
``{"version", "name", "yaml"}`` under a key (``current`` by default; a
deployment or a test can use its own) with acks=all; ``publish_rules`` (the
CLI) does the same for a file, the API for the text an admin sent. Every router worker
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from schemas import topics
from services.core.errors import RuleError
from services.core.routing import RoutingRules
from services.kafka_admin import ensure_rules_topic, require_broker
from services.kafka_group import RECONNECT_BACKOFF_MAX_MS
from services.rules.rules_file import parse_routing_rules, read_routing_rules

log = logging.getLogger(__name__)

DEFAULT_KEY: Final = "current"
# Kafka refuses records over ~1 MB (message.max.bytes); a rule set must fit in one.
RECORD_MAX_BYTES: Final = 1_000_000
_PARTITION: Final = TopicPartition(topics.RULES, 0)


@dataclass(frozen=True)
class RuleSet:
    """A rule set as written (its file name and YAML text) and as loaded."""

    name: str
    text: str
    rules: RoutingRules

    @property
    def version(self) -> str:
        return self.rules.version


class RulesSink(Protocol):
    """What a ``RulesFeed`` hands each loaded rule set to; False: that version is in force."""

    def take(self, rule_set: RuleSet) -> bool: ...


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

    def take(self, rule_set: RuleSet) -> bool:
        return self.swap(rule_set.rules)


def read_rule_set(path: Path | str) -> RuleSet:
    """A rule file with its text (``RuleError`` naming file:line if it does not load)."""
    file = Path(path)
    text = _text_of(file)
    rules = parse_routing_rules(text.encode("utf-8"), name=str(file), base=file.parent)
    return RuleSet(name=file.name, text=text, rules=rules)


def publish_rules(path: Path | str, bootstrap: str, *, key: str = DEFAULT_KEY) -> RoutingRules:
    """Validate and publish a rule file; ``RuleError`` (nothing published) if it does not load."""
    file = Path(path)
    return publish_rules_text(_text_of(file), bootstrap, name=str(file), key=key, base=file.parent)


def publish_rules_text(
    text: str,
    bootstrap: str,
    *,
    name: str,
    key: str = DEFAULT_KEY,
    base: Path | None = None,
    timeout_s: float = 30.0,
) -> RoutingRules:
    """Validate rule-file text and publish it (acks=all) under ``key``.

    ``RuleError`` naming ``name``:line (nothing published) if it does not load;
    a ``KafkaError`` if the broker does not take it within ``timeout_s``. The
    record carries the file name (``name`` without its directory). Backstage
    catalogs are read relative to ``base`` (the rule file's folder, for the
    CLI); without one (an upload over HTTP) they are refused. The same text is
    the same version, so publishing it again is harmless.
    """
    rules = parse_routing_rules(text.encode("utf-8"), name=name, base=base)
    value = _record_value(rules, name, text)
    _send(bootstrap, key.encode("utf-8"), value, timeout_s)
    return rules


def _record_value(rules: RoutingRules, name: str, text: str) -> bytes:
    """The ``handoff.rules`` record of loaded rule-file text; ``RuleError`` if too large."""
    body = {"version": rules.version, "name": Path(name).name, "yaml": text}
    value = json.dumps(body, ensure_ascii=False).encode("utf-8")
    if len(value) > RECORD_MAX_BYTES:
        raise RuleError(
            name, f"too large to publish ({len(value)} bytes, at most {RECORD_MAX_BYTES})"
        )
    return value


def _send(bootstrap: str, key: bytes, value: bytes, timeout_s: float) -> None:
    """Produce one record to ``handoff.rules`` (acks=all), creating the topic if need be."""
    timeout_ms = int(timeout_s * 1000)
    require_broker(bootstrap, min(timeout_s, 5.0))
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_block_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )
    try:
        ensure_rules_topic(bootstrap)
        producer.send(topics.RULES, key=key, value=value).get(timeout=timeout_s)
    finally:
        producer.close(timeout=timeout_s)


def rules_from_record(value: bytes | None) -> RoutingRules:
    """The rule set in a ``handoff.rules`` record (``RuleError`` if it does not load)."""
    return rule_set_from_record(value).rules


def rule_set_from_record(value: bytes | None) -> RuleSet:
    """A ``handoff.rules`` record with its name and text (``RuleError`` if it does not load)."""
    try:
        body = json.loads(value or b"")
        text = str(body["yaml"])
        name = str(body.get("name", "published"))
    except (ValueError, KeyError, TypeError) as exc:
        raise RuleError(topics.RULES, f"not a published rule set: {exc!r}") from None
    rules = parse_routing_rules(
        text.encode("utf-8"), name=f"{topics.RULES}:{name}", base=Path.cwd()
    )
    return RuleSet(name=name, text=text, rules=rules)


def _text_of(file: Path) -> str:
    try:
        return file.read_bytes().decode("utf-8")
    except OSError as exc:
        raise RuleError(str(file), f"cannot read the rule file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RuleError(str(file), "the rule file is not UTF-8 text") from None


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
    """Follows ``handoff.rules`` in a thread and swaps the holder's rules on a new version.

    ``caught_up`` is set once the feed has read the topic to its end (and
    handed the newest rule set under its key, if any, to the holder).
    """

    def __init__(
        self,
        bootstrap: str,
        holder: RulesSink,
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
        self.caught_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="handoff-rules-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                ensure_rules_topic(self._bootstrap)  # compacted, before anything auto-creates it
                consumer = _consumer(self._bootstrap)
            except Exception:  # the broker is away: try again, keep the rules in force
                log.warning("rules feed: cannot reach the broker; retrying", exc_info=True)
                self._stopping.wait(2.0)
                continue
            try:
                latest = _read_to_end(consumer, self._key.decode("utf-8"))
                if latest is not None:
                    self.apply(latest)
                self.caught_up.set()
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
            rule_set = rule_set_from_record(value)
        except RuleError as exc:
            log.error("rules feed: refused a published rule set: %s", exc)
            self._count("refused")
            return
        if self._on_new_teams is not None:
            self._on_new_teams(rule_set.rules.teams)
        if self._holder.take(rule_set):
            log.info("rules feed: now routing with rules version %s", rule_set.version)
            self._count("applied")

    def _count(self, outcome: str) -> None:
        if self._on_outcome is not None:
            self._on_outcome(outcome)


def _consumer(bootstrap: str) -> KafkaConsumer:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,  # follows the feed: back at once
    )  # fmt: skip
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
