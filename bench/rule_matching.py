"""Rule matching alone: the routing tree's per-event cost for 10, 1,000 and 10,000 routes.

    python -m bench.rule_matching [--events 1000] [--repeat 7]

Each tree is shaped like a rule file that grew: an escalation route with
``continue: true`` first, then one route per event type; under each type,
routes per component (``component="billing-412"``), some with priority
children (``=`` and ``=~``), and one regex catch-all per product area
(``component=~"billing-.*"``) after them. A fixed, seeded set of realistic
label sets (the same for every size, about a third of them naming a
component the biggest tree knows) is matched against each tree; the cost
per event is the best of ``--repeat`` passes. The same trees are matched by
a plain linear scan (Alertmanager's algorithm without the index) for
comparison; ratios are to the 10-route tree of the same run. Both must give
the same answers; the numbers are printed, never judged.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from services.core.routetree import Route, RouteMatch, parse_route_tree

SIZES = (10, 1_000, 10_000)
TYPES = ("support.ticket", "sales.note", "sales.deal", "incident")
AREAS = ("billing", "login", "search", "checkout", "reports", "mobile", "api", "admin")
TEAMS = frozenset({"triage", "escalations", "pager", *(f"{area}-team" for area in AREAS)})
POLICIES = frozenset({"standard", "urgent"})
COMPONENTS_PER_AREA = 1_600  # the label sets' component space, wider than any tree


def build_tree(size: int) -> dict[str, Any]:
    """A ``route:`` document with exactly ``size`` routes, the root included."""
    by_type: list[dict[str, Any]] = [
        {"matchers": [f'type="{kind}"'], "routes": []} for kind in TYPES
    ]
    escalation = {
        "matchers": ['priority=~"urgent|high"', 'tier="gold"'],
        "team": "escalations",
        "continue": True,
    }
    root = {"team": "triage", "sla": "standard", "group_by": ["account", "component"],
            "routes": [escalation, *by_type]}  # fmt: skip
    catch_alls = [(kind, area) for area in AREAS for kind in range(len(TYPES))]
    catch_alls = catch_alls[: min(len(catch_alls), size // 20)]
    budget = size - 1 - len(root["routes"]) - len(catch_alls)
    n = 0
    while budget > 0:
        route = _component_route(n, budget)
        by_type[n % len(TYPES)]["routes"].append(route)
        budget -= 1 + len(route["routes"])
        n += 1
    for kind, area in catch_alls:  # after the components, as a rule file grows
        by_type[kind]["routes"].append(_catch_all(area))
    return root


def _component_route(n: int, budget: int) -> dict[str, Any]:
    area = AREAS[n % len(AREAS)]
    children = [
        {"matchers": ['priority="urgent"'], "team": "pager", "sla": "urgent", "continue": True},
        {"matchers": ['priority=~"high|urgent"'], "sla": "urgent"},
    ]
    return {
        "matchers": [f'component="{area}-{n // len(AREAS)}"'],
        "team": f"{area}-team",
        "routes": children[: budget - 1] if n % 5 == 0 else [],
    }


def _catch_all(area: str) -> dict[str, Any]:
    return {"matchers": [f'component=~"{area}-.*"'], "team": f"{area}-team"}


def label_sets(count: int, seed: int = 7) -> list[dict[str, str]]:
    """Realistic routing labels: envelope attributes and flattened data fields."""
    rng = random.Random(seed)
    return [_event(rng, n) for n in range(count)]


def _event(rng: random.Random, n: int) -> dict[str, str]:
    kind = rng.choices(TYPES, weights=(6, 2, 1, 1))[0]
    return {
        "specversion": "1.0",
        "type": kind,
        "source": f"{kind.split('.')[0]}/acme",
        "id": f"evt-{n}",
        "time": f"2026-11-20T{n % 24:02d}:{n % 60:02d}:00+00:00",
        "subject": f"ticket-{rng.randint(1, 99_999)}",
        "account": rng.choice(("acme.com", "globex.jp", "initech.de", "a.user@gmail.com")),
        "component": f"{rng.choice(AREAS)}-{rng.randint(0, COMPONENTS_PER_AREA)}",
        "priority": rng.choice(("low", "normal", "normal", "high", "urgent")),
        "tier": rng.choice(("bronze", "silver", "gold")),
        "customer.name": "Acme",
        "customer.country": rng.choice(("JP", "DE", "US")),
        "channel": rng.choice(("email", "web", "phone")),
    }


def naive_match(route: Route, labels: dict[str, str]) -> list[RouteMatch]:
    """Alertmanager's Match: every child of every visited node, in order."""
    found: list[RouteMatch] = []
    for child in route.routes:
        if all(m.matches(labels) for m in child.matchers):
            found += naive_match(child, labels)
            if not child.continues:
                break
    return found or [route.outcome]


Matcher = Callable[[dict[str, str]], object]


def one_pass_s(match: Matcher, events: Sequence[dict[str, str]]) -> float:
    started = time.perf_counter()
    for labels in events:
        match(labels)
    return time.perf_counter() - started


def best_per_event_us(
    matchers: Sequence[Matcher], events: Sequence[dict[str, str]], repeat: int
) -> list[float]:
    """Best pass of each, passes taken in turns so background noise hits all alike."""
    best = [float("inf")] * len(matchers)
    gc.disable()  # a collection inside one pass is noise, not matching cost
    try:
        for _ in range(repeat):
            for n, match in enumerate(matchers):
                best[n] = min(best[n], one_pass_s(match, events))
    finally:
        gc.enable()
    return [seconds / len(events) * 1e6 for seconds in best]


def load(size: int) -> tuple[Route, float]:
    doc = build_tree(size)
    started = time.perf_counter()
    tree = parse_route_tree(doc, teams=TEAMS, sla_policies=POLICIES)
    return tree, (time.perf_counter() - started) * 1e3


def plain_scan(tree: Route) -> Matcher:
    return lambda labels: naive_match(tree, labels)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    events = label_sets(args.events)
    loaded = [load(size) for size in SIZES]
    trees = [tree for tree, _ in loaded]
    for tree in trees:
        if any(tree.match(e) != tuple(naive_match(tree, e)) for e in events):
            raise SystemExit("the index and the plain scan disagree")
    indexed = best_per_event_us([tree.match for tree in trees], events, args.repeat)
    plain = best_per_event_us([plain_scan(tree) for tree in trees], events, args.repeat)
    print(f"rule matching, {args.events} label sets, best of {args.repeat} passes")
    print(f"{'routes':>7} {'load ms':>8} {'indexed µs/ev':>14} {'x 10':>6} "
          f"{'plain scan µs/ev':>17} {'x 10':>7}")  # fmt: skip
    for tree, (_, load_ms), fast, slow in zip(trees, loaded, indexed, plain, strict=True):
        routes = sum(1 for _ in tree.walk())
        print(
            f"{routes:>7} {load_ms:>8.1f} {fast:>14.2f} {fast / indexed[0]:>6.2f} "
            f"{slow:>17.2f} {slow / plain[0]:>7.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
