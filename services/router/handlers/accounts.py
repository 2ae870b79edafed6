"""The account index: each account's open tasks, so a new task can name them as related.

Linked accounts (the API's alias map, relayed from ``handoff.accounts``) mirror each
other's changes (``services.router.account_links``): after a merge of A into B, a new task
of A lists B's open tasks, and no Kafka key changed.
"""

from __future__ import annotations

from typing import Any

from services.router import account_links as links
from services.router.account_links import Entry
from services.router.batch import Send
from services.router.handlers.base import IGNORED, Context, dumps
from services.router.internal import decode_account_change, dump, load
from services.router.pipeline import Handled, Write
from services.router.pipeline import as_str as key_text

RELAYED = "relayed"


class AccountHandlers:
    def __init__(self, context: Context) -> None:
        self.context = context

    def track_account_tasks(self, key: bytes | None, value: bytes | None) -> Handled:
        account = key_text(key)
        body = load(value)
        entry = links.read_entry(self.context.tables.accounts.get(account))
        if body["kind"] == links.LINK:
            return self._peer(account, entry, str(body.get("account") or ""), links.JOIN)
        if body["kind"] == links.JOIN:
            return self._peer(account, entry, str(body.get("peer") or ""), None)
        change = decode_account_change(value)
        if change is not None:
            entry = entry.applied(account, change, links.origin_of(body, account))
        sends = [self._send(peer, out) for peer, out in links.forwards(body, account, entry.peers)]
        return Handled(IGNORED, sends, [self._write(account, entry)])

    def relay_alias(self, key: bytes | None, value: bytes | None) -> Handled:
        """A ``handoff.accounts`` record -> ``link`` on ``<app>-accounts`` under its alias."""
        record = links.alias_record(value)
        if record is None:
            return Handled(IGNORED)
        alias, account = record
        return Handled(RELAYED, [self._send(alias, links.link_message(account))])

    def _peer(self, account: str, entry: Entry, peer: str, ask: str | None) -> Handled:
        """Take ``peer`` (sending it this entry's tasks); ``ask``: ask it to join back."""
        if not peer or peer == account or peer in entry.peers:
            return Handled(IGNORED)  # known: a record read again changes nothing
        hops = 1 if ask else links.MAX_HOPS  # an alias' own tasks go on to the account's peers
        sends = [self._send(peer, add) for add in links.backfill(entry, account, peer, hops)]
        if ask:
            sends.append(self._send(peer, {"kind": ask, "peer": account}))
        return Handled(IGNORED, sends, [self._write(account, entry.with_peer(peer))])

    def _send(self, account: str, body: dict[str, Any]) -> Send:
        return (self.context.names.accounts, account.encode("utf-8"), dump(body))

    def _write(self, account: str, entry: Entry) -> Write:
        return (self.context.tables.accounts, account, dumps(entry.value()))
