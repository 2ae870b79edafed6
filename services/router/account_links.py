"""The alias map (名寄せ) in the router's account index: linked accounts see each other's
open tasks, and no Kafka key changes.

The index (``accounts_to_open_tasks``) is keyed by the account ingest keyed each event by,
so an intake reads only the entry of its own event's account, on its own partition. A
merge therefore cannot be applied by resolving an account to another key at read time
(that key may live on another worker). Instead linked entries *mirror* each other: an
entry knows its peers (the accounts it is linked with), and every change of its tasks is
sent on to them through ``<app>-accounts`` -- keyed by the peer, so the peer's own worker
applies it, in order, under the same acks as every other send.

The API publishes its alias map to the compacted ``handoff.accounts`` topic (``alias ->
account``, flattened: one hop to the account). The router relays each record to
``<app>-accounts`` under the alias (``link``); the alias' entry takes the account as a
peer, sends it its tasks and asks it to ``join`` (the account takes the alias as a peer
and sends back its tasks, its other peers' included). Changes travel at most two hops, so
in the star the flattened map makes (members around their account) every member reaches
every other through the account, and nothing loops. A mirrored task remembers the account
it comes from (its origin), and is never sent back there: a task closed at its origin
while a join is under way cannot come back from a peer. Every step is idempotent: a known
peer changes nothing; adding a task already listed refreshes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from services.core.grouping import AccountChange, AccountIndex, TaskDropped, index_task

PEERS: Final = "\u0000peers"  # in an entry's JSON: no account contains NUL
ORIGINS: Final = "\u0000origins"  # mirrored task id -> the account it comes from
MAX_HOPS: Final = 2
LINK: Final = "link"
JOIN: Final = "join"


@dataclass(frozen=True)
class Entry:
    """One account's table value: its index, its peers and where mirrored tasks come from."""

    index: AccountIndex | None = None
    peers: tuple[str, ...] = ()
    origins: Mapping[str, str] = field(default_factory=dict)

    def applied(self, account: str, change: AccountChange, origin: str) -> Entry:
        """After a change of one of its tasks (``origin``: the account the task is of)."""
        origins = {k: v for k, v in self.origins.items() if k != change.task_id}
        if origin != account and not isinstance(change, TaskDropped):
            origins[change.task_id] = origin
        return Entry(index_task(self.index, account, change), self.peers, origins)

    def with_peer(self, peer: str) -> Entry:
        return Entry(self.index, (*self.peers, peer), self.origins)

    def value(self) -> dict[str, Any]:
        """The table value (an entry without peers as it always was)."""
        body: dict[str, Any] = (self.index or AccountIndex()).to_dict()
        if self.peers:
            body[PEERS] = sorted(self.peers)
        if self.origins:
            body[ORIGINS] = dict(sorted(self.origins.items()))
        return body


def read_entry(stored: str | None) -> Entry:
    """A table value (an empty entry when there is none)."""
    if not stored:
        return Entry()
    body: dict[str, Any] = json.loads(stored)
    peers = tuple(str(p) for p in body.pop(PEERS, ()))
    origins = {str(k): str(v) for k, v in body.pop(ORIGINS, {}).items()}
    return Entry(AccountIndex.from_dict(body), peers, origins)


def link_message(account: str) -> dict[str, Any]:
    """``<app>-accounts`` under an alias: it belongs to ``account`` now."""
    return {"kind": LINK, "account": account}


def alias_record(value: bytes | None) -> tuple[str, str] | None:
    """A ``handoff.accounts`` record's alias and account; None: not one (it is skipped)."""
    try:
        body = json.loads(value or b"")
        alias, account = body["alias"], body["account"]
    except (ValueError, KeyError, TypeError):
        return None
    ok = isinstance(alias, str) and isinstance(account, str) and alias and account
    return (alias, account) if ok else None


def backfill(entry: Entry, account: str, peer: str, hops: int) -> list[dict[str, Any]]:
    """The entry's open tasks as ``add`` changes for ``peer`` -- but the peer's own."""
    listed = entry.index.related(account) if entry.index is not None else ()
    adds = []
    for task in listed:
        origin = entry.origins.get(task.task_id, account)
        if origin != peer:
            add = {"kind": "add", "task_id": task.task_id, "team": task.team, "state": task.state}
            adds.append(add | {"via": account, "hops": hops, "origin": origin})
    return adds


def origin_of(body: Mapping[str, Any], account: str) -> str:
    """The account a change's task is of: its first sender's (the entry's own when original)."""
    return str(body.get("origin") or account)


def forwards(
    body: Mapping[str, Any], account: str, peers: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """Where a task change applied to ``account`` goes on: each peer but the one it came
    from and the task's own, one hop further, until ``MAX_HOPS``."""
    hops = int(body.get("hops", 0))
    if hops >= MAX_HOPS:
        return []
    origin = origin_of(body, account)
    onward = {**body, "via": account, "hops": hops + 1, "origin": origin}
    skip = (body.get("via"), account, origin)
    return [(peer, onward) for peer in peers if peer not in skip]
