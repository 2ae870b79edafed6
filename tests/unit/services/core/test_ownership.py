from __future__ import annotations

from typing import Any

import pytest
import yaml

from services.core.errors import RuleError
from services.core.ownership import entries_from_backstage, parse_ownership

TEAMS = frozenset({"billing", "billing-frontend", "platform", "support-l2", "triage"})

OWNERSHIP = yaml.safe_load(
    """
- matchers: ['component=~".+"']          # 0: anything with a component: platform by default
  owner: platform
- matchers: ['component=~"billing-.*"']  # 1
  owner: billing
- matchers: ['component="billing-ui"']   # 2: later, more specific
  owner: billing-frontend
- match: {component: invoices}           # 3: legacy match
  owner: billing
- match_re: {product: "ledger|payout"}   # 4: legacy match_re
  owner: billing
- matchers: ['component="billing-api"', 'priority="urgent"']  # 5: all matchers must match
  owner: support-l2
"""
)


@pytest.mark.parametrize(
    ("labels", "team", "entry"),
    [
        ({"component": "search"}, "platform", 0),
        ({"component": "billing-api"}, "billing", 1),
        ({"component": "billing-ui"}, "billing-frontend", 2),  # last match wins over 1 and 0
        ({"component": "invoices"}, "billing", 3),
        ({"component": "billing-api", "priority": "urgent"}, "support-l2", 5),
        ({"component": "billing-api", "priority": "low"}, "billing", 1),
        ({"product": "payout"}, "billing", 4),
        ({"component": "search", "product": "ledger"}, "billing", 4),
        ({"product": "ledgers"}, None, None),  # regexes are anchored
        ({}, None, None),  # a missing label is "" and ".+" needs something
    ],
)
def test_last_matching_entry_wins(
    labels: dict[str, str], team: str | None, entry: int | None
) -> None:
    found = parse_ownership(OWNERSHIP, teams=TEAMS).owner(labels)
    assert (found and (found.team, found.entry)) == (team and (team, entry))


def test_the_match_says_why() -> None:
    found = parse_ownership(OWNERSHIP, teams=TEAMS).owner({"component": "billing-ui"})
    assert found is not None
    assert found.explain() == 'ownership[2] component="billing-ui" -> billing-frontend'


def test_an_entry_without_matchers_matches_everything() -> None:
    table = parse_ownership([{"owner": "triage"}, *OWNERSHIP], teams=TEAMS)
    found = table.owner({"component": "nothing-owns-this"})
    assert found is not None
    assert (found.team, found.entry) == ("platform", 1)
    fallback = table.owner({})
    assert fallback is not None
    assert (fallback.team, fallback.entry, fallback.matchers) == ("triage", 0, ())
    assert fallback.explain() == "ownership[0] (matches everything) -> triage"


def test_empty_table_owns_nothing() -> None:
    assert parse_ownership([], teams=TEAMS).owner({"component": "x"}) is None


@pytest.mark.parametrize(
    ("doc", "where", "reason"),
    [
        ({"owner": "billing"}, "ownership", "must be a list"),
        (["billing"], "ownership[0]", "must be a mapping"),
        ([{"matchers": ['a="1"']}], "ownership[0].owner", "is required"),
        ([{"matchers": ['a="1"'], "owner": ""}], "ownership[0].owner", "is required"),
        ([{"matchers": ['a="1"'], "owner": 7}], "ownership[0].owner", "not a team name"),
        (
            [{"owner": "billing"}, {"owner": "payments"}],
            "ownership[1].owner",
            "unknown team 'payments' .declared: billing, billing-frontend",
        ),
        ([{"owner": "billing", "team": "x"}], "ownership[0].team", "unknown key"),
        ([{"owner": "billing", "matchers": ['a=~"("']}], "ownership[0].matchers[0]", "bad regex"),
        ([{"owner": "billing", "match": ["a"]}], "ownership[0].match", "label name -> value"),
    ],
)
def test_load_errors_say_where_and_why(doc: Any, where: str, reason: str) -> None:
    with pytest.raises(RuleError, match=reason) as err:
        parse_ownership(doc, teams=TEAMS)
    assert err.value.where == where


def test_where_is_the_callers_prefix() -> None:
    with pytest.raises(RuleError) as err:
        parse_ownership([{"owner": "billing"}] * 3 + [{}], teams=TEAMS, where="rules.ownership")
    assert err.value.where == "rules.ownership[3].owner"


CATALOG = list(
    yaml.safe_load_all(
        """
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: billing-ui, description: The invoice screens}
spec: {type: website, lifecycle: production, owner: group:default/billing-frontend}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: billing}
spec: {owner: billing}
---
apiVersion: backstage.io/v1alpha1
kind: component
metadata: {name: billing-api}
spec: {type: service, lifecycle: production, owner: group:billing}
---
kind: Group
metadata: {name: billing}
spec: {type: team, children: []}
---
---
kind: API
metadata: {name: billing-openapi}
spec: {type: openapi, owner: platform}
---
kind: Component
metadata: {name: search, namespace: tools}
spec: {owner: platform}
---
kind: Component
metadata: {name: ledger}
spec: {owner: default/billing}
---
kind: Component
metadata: {name: payouts}
spec: {owner: {kind: Group, namespace: default, name: billing}}
---
kind: Component
metadata: {name: 'say "hi"'}
spec: {owner: user:default/triage}
"""
    )
)


def test_backstage_components_become_ownership_entries() -> None:
    entries = entries_from_backstage(CATALOG, where="catalog-info.yaml")
    assert entries == [
        {"matchers": ['component="billing-ui"'], "owner": "billing-frontend"},
        {"matchers": ['component="billing-api"'], "owner": "billing"},
        {"matchers": ['component="search"'], "owner": "platform"},
        {"matchers": ['component="ledger"'], "owner": "billing"},
        {"matchers": ['component="payouts"'], "owner": "billing"},
        {"matchers": ['component="say \\"hi\\""'], "owner": "triage"},
    ]


@pytest.mark.parametrize(
    ("labels", "team"),
    [
        ({"component": "billing-ui"}, "billing-frontend"),
        ({"component": "billing-api"}, "billing"),
        ({"component": "search"}, "platform"),
        ({"component": 'say "hi"'}, "triage"),
        ({"component": "billing"}, None),  # the System of that name is not a Component
        ({"component": "billing-openapi"}, None),
        ({"service": "billing-ui"}, None),  # another label
    ],
)
def test_backstage_entries_load_and_match_on_the_label(
    labels: dict[str, str], team: str | None
) -> None:
    table = parse_ownership(entries_from_backstage(CATALOG, where="catalog"), teams=TEAMS)
    found = table.owner(labels)
    assert (found and found.team) == team


def test_backstage_label_is_configurable() -> None:
    entries = entries_from_backstage(CATALOG[:1], label="service", where="catalog")
    found = parse_ownership(entries, teams=TEAMS).owner({"service": "billing-ui"})
    assert found is not None
    assert found.team == "billing-frontend"


def test_backstage_owner_must_be_a_declared_team() -> None:
    doc = {"kind": "Component", "metadata": {"name": "x"}, "spec": {"owner": "group:payments"}}
    with pytest.raises(RuleError, match="unknown team 'payments'"):
        parse_ownership(entries_from_backstage([doc], where="catalog"), teams=TEAMS)


@pytest.mark.parametrize(
    ("document", "where", "reason"),
    [
        ({"kind": "Component", "metadata": {"name": "x"}, "spec": {"type": "service"}},
         "catalog[1].spec.owner", "is required"),
        ({"kind": "Component", "metadata": {"name": "x"}}, "catalog[1].spec", "needs spec.owner"),
        ({"kind": "Component", "metadata": {"name": "x"}, "spec": {"owner": ""}},
         "catalog[1].spec.owner", "is required"),
        ({"kind": "Component", "metadata": {}, "spec": {"owner": "billing"}},
         "catalog[1].metadata.name", "is required"),
        ({"kind": "Component", "metadata": {"name": 3}, "spec": {"owner": "billing"}},
         "catalog[1].metadata.name", "not a string"),
        ({"kind": "Component", "metadata": {"name": "x"}, "spec": {"owner": "group:"}},
         "catalog[1].spec.owner", "not an entity reference"),
        ({"kind": "Component", "metadata": {"name": "x"}, "spec": {"owner": "a/b/c"}},
         "catalog[1].spec.owner", "not an entity reference"),
        ({"kind": "Component", "metadata": {"name": "x"}, "spec": {"owner": ["billing"]}},
         "catalog[1].spec.owner", "not an entity reference"),
        ({"kind": "Component", "metadata": {"name": "x"}, "spec": {"owner": {"kind": "Group"}}},
         "catalog[1].spec.owner.name", "needs a name"),
        ({"metadata": {"name": "x"}}, "catalog[1].kind", "is required"),
        (["not", "a", "mapping"], "catalog[1]", "must be a mapping"),
    ],
)  # fmt: skip
def test_backstage_errors_name_the_document(document: Any, where: str, reason: str) -> None:
    with pytest.raises(RuleError, match=reason) as err:
        entries_from_backstage([CATALOG[0], document], where="catalog")
    assert err.value.where == where
