"""The alias map (名寄せ) on ``handoff.accounts``, so the router's account index applies it.

``account_aliases`` is an outbox: every row written by a link, a merge, an import or a
link learned from events is ``published = false`` until the broker acknowledged its record
(acks=all, idempotent producer) on the compacted ``handoff.accounts`` topic, keyed by the
alias: ``{"alias", "account", "at"}``. A row changed again meanwhile stays unpublished (the
mark names the values sent), so the newest value always goes out; a crash between the send
and the mark sends it again, which the router ignores (it knows the link). The router
relays each record into its account index (``services.router.account_links``).
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa

from schemas import topics
from services.api.models.accounts import ACCOUNT_ALIASES
from services.api.producer import AckedProducer

log = logging.getLogger(__name__)

BATCH: Final = 500
ALIAS = ACCOUNT_ALIASES.c


def alias_value(alias: str, account: str, at: datetime) -> bytes:
    body = {"alias": alias, "account": account, "at": at.isoformat()}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def unpublished(conn: sa.Connection, limit: int = BATCH) -> list[Any]:
    """Alias rows the router has not been sent yet, oldest change first."""
    query = sa.select(ALIAS.alias, ALIAS.account, ALIAS.updated_at).where(
        ALIAS.published.is_(False)
    )
    return list(conn.execute(query.order_by(ALIAS.updated_at).limit(limit)))


def mark_published(conn: sa.Connection, row: Any) -> None:
    """Published -- unless the row changed since it was read (then it goes out again)."""
    same = (ALIAS.account == row.account) & (ALIAS.updated_at == row.updated_at)
    conn.execute(sa.update(ACCOUNT_ALIASES).where((ALIAS.alias == row.alias) & same)
                 .values(published=True))  # fmt: skip


class AliasPublisher:
    """Publishes unpublished alias rows every ``poll_s`` on a thread."""

    def __init__(
        self,
        engine: sa.Engine,
        bootstrap: str,
        partitions: int,
        *,
        poll_s: float = 1.0,
        ack_timeout_s: float = 10.0,
    ) -> None:
        self._engine, self._bootstrap, self._partitions = engine, bootstrap, partitions
        self._producer = AckedProducer(
            bootstrap, client_id="handoff-api-aliases", ack_timeout_s=ack_timeout_s
        )
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="handoff-api-aliases", daemon=True)
        self._topic_ready = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)
        self._producer.close()

    def publish_once(self) -> int:
        """Send what is unpublished and mark it; how many were sent."""
        self._ensure_topic()
        with self._engine.connect() as conn:
            rows = unpublished(conn)
        for row in rows:
            value = alias_value(row.alias, row.account, row.updated_at)
            self._producer.send(topics.ACCOUNTS, key=row.alias.encode("utf-8"), value=value)
            with self._engine.begin() as conn:
                mark_published(conn, row)
        return len(rows)

    def _ensure_topic(self) -> None:
        if not self._topic_ready:
            from services.kafka_admin import ensure_accounts_topic

            ensure_accounts_topic(self._bootstrap, self._partitions)
            self._topic_ready = True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.publish_once()
            except Exception as exc:  # the broker or the database away: retry, never die
                log.warning("alias map: not published yet (%r); retrying", exc)
                sent = 0
            if sent < BATCH:
                self._stop.wait(self._poll_s)
