"""``handoff routes``: who would get this event? (as ``amtool config routes test``).

``routes test`` says on stderr which rule set answered (name and version).
Without ``--rules`` it asks the broker for the set published under the
deployment's key on ``handoff.rules`` (what the router workers run), waiting
``--timeout`` seconds at most, and falls back to ``deploy/config/routing.yaml``
when no broker answers or nothing was published, saying so.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from schemas import topics
from services.config import ServiceSettings
from services.core.errors import RuleError
from services.core.routing import Decision, RoutingRules
from services.kafka_admin import require_broker
from services.rules.rules_feed import DEFAULT_KEY, RuleSet, rule_set_from_record
from services.rules.rules_file import read_routing_rules

routes_app = typer.Typer(no_args_is_help=True, help="Check routing rules without running anything.")

DEFAULT_RULES = Path("deploy/config/routing.yaml")
RULES_OPTION = typer.Option(DEFAULT_RULES, "--rules", help="The routing file.", exists=False)
TEST_RULES_OPTION = typer.Option(
    None,
    "--rules",
    help="The routing file (default: the published rule set, else deploy/config/routing.yaml).",
    exists=False,
)
BOOTSTRAP_OPTION = typer.Option(
    None, help="Kafka to ask for the published rule set (default: HANDOFF_KAFKA_BOOTSTRAP)."
)
KEY_OPTION = typer.Option(
    DEFAULT_KEY, envvar="HANDOFF_ROUTER_RULES_KEY", help="The rule set's key on handoff.rules."
)
TIMEOUT_OPTION = typer.Option(3.0, min=0.1, help="Seconds to wait for the broker.")


@routes_app.command("test")
def routes_test(
    labels: list[str] = typer.Argument(None, help="Event labels as name=value."),
    rules_file: Path | None = TEST_RULES_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Route ids, SLA and group key too."),
    tree: bool = typer.Option(False, "--tree", help="Print the tree, marking the matched routes."),
    expect: str | None = typer.Option(
        None, help="Exit 1 unless the teams are exactly these (a,b)."
    ),
    at: datetime | None = typer.Option(None, help="When the event was raised (for SLA deadlines)."),
    bootstrap: str | None = BOOTSTRAP_OPTION,
    key: str = KEY_OPTION,
    timeout: float = TIMEOUT_OPTION,
) -> None:
    """Print the teams an event with these labels goes to, comma-joined in match order."""
    rules = rules_in_force(rules_file, bootstrap or ServiceSettings().kafka_bootstrap, key, timeout)
    given = _parse_labels(labels or [])
    decisions = rules.decide(given, _raised(at))
    teams = ",".join(d.team for d in decisions)
    if tree:
        _print_tree(rules, {d.route_id for d in decisions})
    if as_json:
        typer.echo(json.dumps(_as_json(rules, decisions), ensure_ascii=False, indent=2))
    else:
        typer.echo(teams)
    if expect is not None and teams != ",".join(t.strip() for t in expect.split(",")):
        typer.echo(f"expected {expect}, got {teams}", err=True)
        raise typer.Exit(1)


@routes_app.command("check")
def routes_check(rules_file: Path = RULES_OPTION) -> None:
    """Validate a routing file; print its version, teams and route count."""
    rules = _load(rules_file)
    count = sum(1 for _ in rules.tree.walk())
    typer.echo(
        f"{rules_file}: ok, version {rules.version}, {len(rules.teams)} teams, {count} routes"
    )


def rules_in_force(
    rules_file: Path | None,
    bootstrap: str,
    key: str,
    timeout_s: float,
    *,
    default_file: Path = DEFAULT_RULES,
) -> RoutingRules:
    """``rules_file`` if given, else the set published under ``key``, else ``default_file``.

    Says on stderr which set it is (name, version, why); a file that does not
    load exits 2 with file:line.
    """
    if rules_file is not None:
        rules = _load(rules_file)
        typer.echo(f"rules: {rules_file} version {rules.version} (--rules)", err=True)
        return rules
    try:
        published = published_rule_set(bootstrap, key, timeout_s)
    except (KafkaError, RuleError) as exc:
        why = f"the published set could not be read from {bootstrap}: {_why(exc)}"
        return _fallback(default_file, why)
    if published is None:
        return _fallback(default_file, f"nothing published under key {key!r} at {bootstrap}")
    typer.echo(
        f"rules: {published.name} version {published.version} "
        f"(published on {topics.RULES}, key {key!r}, at {bootstrap})",
        err=True,
    )
    return published.rules


def _fallback(file: Path, why: str) -> RoutingRules:
    rules = _load(file)
    typer.echo(f"rules: {file} version {rules.version} (the file; {why})", err=True)
    return rules


def _why(exc: Exception) -> str:
    text, name = str(exc), type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}"


def published_rule_set(bootstrap: str, key: str, timeout_s: float) -> RuleSet | None:
    """The newest rule set published under ``key``; None when there is none.

    ``KafkaError`` when no broker answers within ``timeout_s``; ``RuleError``
    when the newest record does not load.
    """
    timeout_ms = int(timeout_s * 1000)
    partition = TopicPartition(topics.RULES, 0)
    require_broker(bootstrap, timeout_s)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=max(timeout_ms, 1000),
        consumer_timeout_ms=timeout_ms,
    )
    try:
        if partition.topic not in consumer.topics():
            return None
        return _newest(consumer, partition, key.encode("utf-8"), timeout_ms)
    finally:
        consumer.close()


def _newest(
    consumer: KafkaConsumer, partition: TopicPartition, key: bytes, timeout_ms: int
) -> RuleSet | None:
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    end = consumer.end_offsets([partition])[partition]
    latest = None
    while consumer.position(partition) < end:
        polled = consumer.poll(timeout_ms=timeout_ms)
        if not polled:
            raise KafkaError(f"{topics.RULES} not read to its end within {timeout_ms} ms")
        for record in (r for records in polled.values() for r in records if r.key == key):
            latest = record.value
    return rule_set_from_record(latest) if latest is not None else None


def _load(path: Path) -> RoutingRules:
    try:
        return read_routing_rules(path)
    except RuleError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _parse_labels(pairs: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            typer.echo(f"error: {pair!r} is not a label like name=value", err=True)
            raise typer.Exit(2)
        labels[name] = value.strip('"')
    return labels


def _raised(at: datetime | None) -> datetime:
    """``--at`` as UTC (a time without a zone is taken as UTC); now when not given."""
    if at is None:
        return datetime.now(UTC)
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def _as_json(rules: RoutingRules, decisions: tuple[Decision, ...]) -> dict[str, Any]:
    return {
        "rules_version": rules.version,
        "teams": [d.team for d in decisions],
        "routes": [
            {
                "route_id": d.route_id,
                "team": d.team,
                "reason": d.reason,
                "sla": d.sla,
                "acknowledge_by": _due(d, "acknowledge"),
                "resolve_by": _due(d, "resolve"),
                "group_key": d.group_key,
                "escalate_to": d.escalate_to,
                "labels": dict(d.labels),
                "capacity": d.capacity is not None,
            }
            for d in decisions
        ],
    }


def _due(decision: Decision, clock: str) -> str | None:
    found = getattr(decision.clocks, clock, None) if decision.clocks else None
    return found.due.isoformat() if found is not None else None


def _print_tree(rules: RoutingRules, matched: set[str]) -> None:
    for route in rules.tree.walk():
        mark = "  <- matched" if route.route_id in matched else ""
        typer.echo(f"{'  ' * route.depth}{route.describe()}{mark}")
