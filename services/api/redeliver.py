"""An operator's second chance for parked deliveries (``handoff deliveries retry``).

A delivery is parked (state ``dead``, on ``handoff.dlq`` with the reason) when
its origin did not take it within the retry budget. Once the origin is back the
operator retries it: the row is made due now with a fresh budget, and the
deliverer of any API process posts it as usual, under the same delivery id (the
origin's idempotency key), so an origin that did get an earlier attempt can
drop it. The attempt log restarts its numbering at 1 after a retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.api.callbacks import DEAD, PENDING
from services.api.db import Delivery


def parked(session: Session, delivery_ids: Sequence[str], source: str | None) -> list[Delivery]:
    """The parked deliveries among ``delivery_ids`` and/or of ``source``, oldest first."""
    query = sa.select(Delivery).where(Delivery.state == DEAD).order_by(Delivery.created_at)
    if delivery_ids:
        query = query.where(Delivery.delivery_id.in_(delivery_ids))
    if source is not None:
        query = query.where(Delivery.source == source)
    return list(session.scalars(query))


def retry_parked(
    engine: sa.Engine, *, delivery_ids: Sequence[str] = (), source: str | None, now: datetime
) -> list[Delivery]:
    """Make the chosen parked deliveries due now with a fresh budget; return them.

    Refuses to choose everything: give delivery ids, a source, or both.
    """
    if not delivery_ids and source is None:
        raise ValueError("give delivery ids or a source")
    with Session(engine, expire_on_commit=False) as session, session.begin():
        chosen = parked(session, delivery_ids, source)
        session.execute(
            sa.update(Delivery)
            .where(Delivery.delivery_id.in_([d.delivery_id for d in chosen]))
            .where(Delivery.state == DEAD)
            .values(state=PENDING, attempts=0, next_attempt_at=now)
        )
    return chosen
