from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.core.errors import RuleError
from services.router.rules_feed import RulesFeed, RulesHolder, publish_rules, rules_from_record
from services.router.rules_file import read_routing_rules

GOOD = "teams: {a: {}, b: {}}\nroute: {team: a}\n"


def record(text: str, name: str = "routing.yaml") -> bytes:
    return json.dumps({"version": "ignored", "name": name, "yaml": text}).encode()


def test_a_published_record_loads_with_the_version_of_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(GOOD)
    assert rules_from_record(record(GOOD)).version == read_routing_rules(path).version


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (b"not json", "not a published rule set"),
        (record("teams: {a: {}}\nroute: {team: nobody}\n"), "nobody"),
        (None, "not a published rule set"),
    ],
)
def test_a_bad_record_is_refused(value: bytes | None, says: str) -> None:
    with pytest.raises(RuleError, match=says):
        rules_from_record(value)


def test_the_feed_swaps_to_a_new_version_and_keeps_its_rules_on_a_bad_one() -> None:
    holder = RulesHolder(rules_from_record(record(GOOD)))
    outcomes: list[str] = []
    feed = RulesFeed("127.0.0.1:1", holder, on_outcome=outcomes.append)
    newer = GOOD.replace("team: a", "team: b")
    feed.apply(record(newer))
    assert holder.current.tree.match({})[0].team == "b"
    feed.apply(record("route: {team: b}\n"))  # no teams: refused
    feed.apply(record(newer))  # the same version again: nothing to do
    assert holder.current.version == rules_from_record(record(newer)).version
    assert outcomes == ["applied", "refused"]


def test_publish_refuses_a_file_that_does_not_load_before_touching_the_broker(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("teams: {a: {}}\nroute:\n  team: nobody\n")
    with pytest.raises(RuleError) as refused:
        publish_rules(bad, "127.0.0.1:1")  # no broker there: it must fail before
    assert "bad.yaml:3" in str(refused.value)
