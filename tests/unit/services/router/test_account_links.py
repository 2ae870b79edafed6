"""Linked accounts in the router's index (issue 11): a merge applied without re-keying.

The handlers run without Faust; a small loop plays ``<app>-accounts`` (each send handled
under its key, in order, its writes applied), as the broker and the workers would.
"""

from __future__ import annotations

import json
from collections import deque

from services.core.grouping import TaskDropped, TaskIndexed
from services.router.account_links import PEERS, alias_record, read_entry
from services.router.handlers.accounts import AccountHandlers
from services.router.handlers.base import Context
from services.router.internal import encode_change
from tests.unit.services.router.test_handlers import make_context


def settle(context: Context, first: list[tuple[str, bytes]]) -> int:
    """Handle messages until none is left; how many were handled."""
    handlers, waiting, handled = AccountHandlers(context), deque(first), 0
    while waiting:
        key, value = waiting.popleft()
        result = handlers.track_account_tasks(key.encode(), value)
        for table, table_key, new in result.writes:
            table[table_key] = new  # type: ignore[index]
        waiting.extend((k.decode(), v) for _, k, v in result.sends if k is not None)
        handled += 1
    return handled


def open_task(account: str, task_id: str) -> tuple[str, bytes]:
    return account, encode_change(TaskIndexed(task_id, "support-l1"))


def relay(context: Context, alias: str, account: str) -> list[tuple[str, bytes]]:
    record = json.dumps({"alias": alias, "account": account}).encode()
    handled = AccountHandlers(context).relay_alias(alias.encode(), record)
    return [(k.decode(), v) for _, k, v in handled.sends if k is not None]


def related(context: Context, account: str) -> set[str]:
    index = read_entry(context.tables.accounts.get(account)).index
    return {t.task_id for t in index.related(account)} if index else set()


def test_after_a_merge_each_account_lists_the_others_open_tasks() -> None:
    context = make_context()
    settle(context, [open_task("crm:B", "tb"), open_task("a.example", "ta")])
    assert related(context, "a.example") == {"ta"}
    settle(context, relay(context, "a.example", "crm:B"))
    assert related(context, "a.example") == {"ta", "tb"}
    assert related(context, "crm:B") == {"ta", "tb"}
    settle(context, [open_task("crm:B", "tb2")])  # later tasks are mirrored too
    assert related(context, "a.example") == {"ta", "tb", "tb2"}
    settle(context, [("crm:B", encode_change(TaskDropped("tb")))])  # and closes
    assert related(context, "a.example") == {"ta", "tb2"}


def test_members_of_one_account_reach_each_other_through_it() -> None:
    context = make_context()
    settle(context, [open_task("a.example", "ta"), open_task("b.example", "tb")])
    settle(context, [open_task("crm:C", "tc")])
    settle(context, relay(context, "a.example", "crm:C"))
    settle(context, relay(context, "b.example", "crm:C"))
    for account in ("a.example", "b.example", "crm:C"):
        assert related(context, account) == {"ta", "tb", "tc"}, account
    settle(context, [open_task("a.example", "ta2")])  # two hops: a -> C -> b, no further
    assert related(context, "b.example") == {"ta", "ta2", "tb", "tc"}


def test_a_record_read_again_changes_nothing_and_nothing_loops() -> None:
    context = make_context()
    settle(context, [open_task("crm:B", "tb"), open_task("a.example", "ta")])
    # the link; ta to B; join; B's own tasks back to a (never a's own: ta stays put)
    assert settle(context, relay(context, "a.example", "crm:B")) == 4
    before = dict(context.tables.accounts)
    assert settle(context, relay(context, "a.example", "crm:B")) == 1  # the link: known
    assert dict(context.tables.accounts) == before
    assert json.loads(before["crm:B"])[PEERS] == ["a.example"]


def test_a_task_closed_while_its_account_joins_does_not_come_back() -> None:
    context = make_context()
    settle(context, [open_task("crm:B", "tb"), open_task("a.example", "ta")])
    closed = ("a.example", encode_change(TaskDropped("ta")))
    settle(context, [*relay(context, "a.example", "crm:B"), closed])  # closed mid-join
    assert related(context, "a.example") == {"tb"}
    assert related(context, "crm:B") == {"tb"}


def test_an_unreadable_alias_record_is_skipped() -> None:
    context = make_context()
    for value in (b"", b"[]", b'{"alias": "a.example"}', b'{"alias": 1, "account": "x"}'):
        assert AccountHandlers(context).relay_alias(b"a.example", value).sends == ()
    assert alias_record(b'{"alias": "a.example", "account": "crm:B"}') == ("a.example", "crm:B")
