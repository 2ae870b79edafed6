"""``handoff routes``: who would get this event? (as ``amtool config routes test``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from services.core.errors import RuleError
from services.core.routing import Decision, RoutingRules
from services.rules.rules_file import read_routing_rules

routes_app = typer.Typer(no_args_is_help=True, help="Check routing rules without running anything.")

RULES_OPTION = typer.Option(
    Path("deploy/config/routing.yaml"), "--rules", help="The routing file.", exists=False
)


@routes_app.command("test")
def routes_test(
    labels: list[str] = typer.Argument(None, help="Event labels as name=value."),
    rules_file: Path = RULES_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Route ids, SLA and group key too."),
    tree: bool = typer.Option(False, "--tree", help="Print the tree, marking the matched routes."),
    expect: str | None = typer.Option(
        None, help="Exit 1 unless the teams are exactly these (a,b)."
    ),
    at: datetime | None = typer.Option(None, help="When the event was raised (for SLA deadlines)."),
) -> None:
    """Print the teams an event with these labels goes to, comma-joined in match order."""
    rules = _load(rules_file)
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
