"""Issue 15: table values decoded once, written as before; the fast codec writes what json did.

The caches only ever stand in for decoding the very value the table holds, so
these tests pin that: the bytes are the old ones, a value the table no longer
holds is decoded again, and the most urgent terms known from the last write are
the ones a scan of every request finds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.core.grouping import GroupedTask, GroupEvent
from services.core.terms import PRIORITY_RANK, TaskTerms, Terms
from services.router import json_codec
from services.router.handlers.base import DecodedValues
from services.router.handlers.group_values import Stored, StoredGroups
from services.router.handlers.grouping import joined

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def old_value(task: GroupedTask, terms: TaskTerms) -> str:
    """What ``Stored.value`` wrote before issue 15 (8966e9b)."""
    body = {**task.to_dict(), "terms": terms.to_dict()}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def a_task(ids: int, max_ids: int = 1000) -> GroupedTask:
    task = GroupedTask.open("t1", "g1", GroupEvent("e0", "acme", "a@acme.jp", T0), max_ids=max_ids)
    for n in range(1, ids):
        task = task.join(GroupEvent(f"e{n}-要", f"acct-{n % 3}", "b@例え.jp", T0))
    return task


def terms_of(task: GroupedTask, minutes: list[int] | None = None) -> TaskTerms:
    terms = TaskTerms()
    for n, event_id in enumerate(task.event_ids):
        due = T0 + timedelta(minutes=(minutes or [])[n] if minutes else 60 + n)
        terms = terms.with_request(event_id, Terms("high", "urgent", T0, due, None))
    return terms


def test_a_group_is_written_as_the_router_always_wrote_it() -> None:
    task = a_task(5)
    table: dict[str, str] = {}
    groups = StoredGroups(table)
    _, key, value = groups.write("g1", Stored(task, terms_of(task)))
    assert (key, value) == ("g1", old_value(task, terms_of(task)))
    table[key] = value
    again = groups.get("g1")  # from what it remembered: the JSON of its terms reused
    longer = task.join(GroupEvent("e9", "acme", "a@acme.jp", T0))
    terms = again.terms.with_request("e9", Terms("low", None, T0))
    assert groups.write("g1", again.following(longer, terms))[2] == old_value(longer, terms)


def test_a_value_read_from_the_table_is_written_back_as_it_was() -> None:
    """A worker that recovered the value (it never wrote it) decodes it, then writes it."""
    task = a_task(4)
    table = {"g1": old_value(task, terms_of(task))}
    groups = StoredGroups(table)
    stored = groups.get("g1")
    assert stored == Stored(task, terms_of(task))
    longer = task.join(GroupEvent("e9", "acme", "a@acme.jp", T0))
    terms = stored.terms.with_request("e9", Terms("low", None, T0))
    assert groups.write("g1", stored.following(longer, terms))[2] == old_value(longer, terms)


def test_a_value_the_table_no_longer_holds_is_decoded_again() -> None:
    task, other = a_task(3), a_task(4)
    table: dict[str, str] = {}
    groups = StoredGroups(table)
    table["g1"] = groups.write("g1", Stored(task, terms_of(task)))[2]
    assert groups.get("g1").task == task
    table["g1"] = old_value(other, terms_of(other))  # e.g. a batch undone, a value recovered
    assert groups.get("g1") == Stored(other, terms_of(other))
    del table["g1"]
    assert groups.get("g1") == Stored(None, TaskTerms())


@given(st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=12), st.data())
def test_the_most_urgent_terms_known_are_those_a_scan_finds(
    minutes: list[int], data: st.DataObject
) -> None:
    """Equal deadlines, requests dropped past ``max_ids``: the same terms as ``current()``."""
    task = a_task(len(minutes), max_ids=4)
    terms = TaskTerms()
    for event_id, m in zip(task.event_ids, minutes[-len(task.event_ids) :], strict=True):
        terms = terms.with_request(event_id, Terms("normal", "s", T0, T0 + timedelta(minutes=m)))
    longer = task.join(GroupEvent("new", "acme", "a@acme.jp", T0))
    priority = data.draw(st.sampled_from(sorted(PRIORITY_RANK)))
    new = Terms(priority, "s", T0, T0 + timedelta(minutes=data.draw(st.integers(0, 5))))
    known = joined(Stored(task, terms, known_current=(terms.current(),)), longer, "new", new)
    scanned = joined(Stored(task, terms), longer, "new", new)
    assert known.current is scanned.current
    assert known.current is known.terms.current()
    assert known == scanned


def test_decoded_values_follow_the_table() -> None:
    table: dict[str, str] = {}
    values = DecodedValues(size=2)
    assert values.load(table, "acme") is None
    table["acme"] = values.dump(table, "acme", {"ev-1": [["g", "billing"]]})
    assert table["acme"] == '{"ev-1":[["g","billing"]]}'
    assert values.load(table, "acme") == {"ev-1": [["g", "billing"]]}
    table["acme"] = '{"ev-2":[]}'
    assert values.load(table, "acme") == {"ev-2": []}


SAMPLES: list[Any] = [
    {"subject": "請求書の画面が分かりにくい", "n": 3, "x": 3600.0, "y": 0.1, "z": None, "ok": True},
    {"big": 2**70, "tiny": 1e-7, "huge": 1e16, "list": [1, "二", [3.5, False]]},
    [],
    '\u2028 tab\t quote" backslash\\ control\x01',
]


def test_the_fast_codec_writes_what_json_wrote() -> None:
    for body in SAMPLES:
        expected = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        assert json_codec.dumps(body) == expected.encode("utf-8")
        assert json_codec.dumps_text(body) == expected
        assert json_codec.loads(expected) == body


def test_what_only_json_reads_is_still_read() -> None:
    assert json_codec.loads('"\\ud800"') == "\ud800"  # a lone surrogate: orjson refuses it
