from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.core.errors import RuleError
from services.rules.rules_feed import (
    RECORD_MAX_BYTES,
    RuleSet,
    RulesFeed,
    RulesHolder,
    publish_rules,
    publish_rules_text,
    read_rule_set,
    rule_set_from_record,
    rules_from_record,
)
from services.rules.rules_file import read_routing_rules

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


def test_publishing_text_refuses_what_does_not_load_before_touching_the_broker() -> None:
    with pytest.raises(RuleError) as refused:
        publish_rules_text("teams: {a: {}}\nroute:\n  team: nobody\n", "127.0.0.1:1", name="x.yaml")
    assert str(refused.value).startswith("x.yaml:3: ")


def test_publishing_text_without_a_folder_reads_no_catalog_files() -> None:
    text = GOOD + "backstage: {catalogs: [/etc/passwd]}\n"
    with pytest.raises(RuleError, match="catalog files are not read for an uploaded rule set"):
        publish_rules_text(text, "127.0.0.1:1", name="up.yaml")


def test_publishing_text_refuses_a_record_kafka_would_not_take() -> None:
    huge = GOOD + "#" * RECORD_MAX_BYTES + "\n"
    with pytest.raises(RuleError, match="too large to publish"):
        publish_rules_text(huge, "127.0.0.1:1", name="big.yaml")


def test_a_record_and_a_file_keep_their_name_and_text(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_bytes(GOOD.encode())
    from_file = read_rule_set(path)
    from_record = rule_set_from_record(record(GOOD, name="teams.yaml"))
    assert (from_file.name, from_file.text) == ("routing.yaml", GOOD)
    assert (from_record.name, from_record.text) == ("teams.yaml", GOOD)
    assert from_file.version == from_record.version == read_routing_rules(path).version


def test_the_feed_hands_whole_rule_sets_to_its_sink() -> None:
    class Sink:
        def __init__(self) -> None:
            self.taken: list[RuleSet] = []

        def take(self, rule_set: RuleSet) -> bool:
            self.taken.append(rule_set)
            return True

    sink = Sink()
    feed = RulesFeed("127.0.0.1:1", sink)
    feed.apply(record(GOOD, name="teams.yaml"))
    assert [(r.name, r.text) for r in sink.taken] == [("teams.yaml", GOOD)]
    assert not feed.caught_up.is_set()
    assert not feed.is_alive()
    feed.stop()  # never started: nothing to wait for
