"""The demo's sales and capacity samples are what ingest's models accept (stories 2, 3)."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.events import ProductionCapacity, SalesNote
from services.traffic import OVERDUE_SUBJECTS, overdue_tickets
from services.traffic_sales import SHARED_CUSTOMERS, sales_traffic

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


def test_capacity_covers_two_plants_three_lines_two_products() -> None:
    updates = [ProductionCapacity.model_validate(s.body) for s in sales_traffic(NOW, "T").capacity]
    assert len({u.plant for u in updates}) == 2
    assert len({(u.plant, u.line) for u in updates}) == 3
    assert len({p for u in updates for p in u.products}) == 2
    assert all(day.date > NOW.date() for u in updates for day in u.free)


def test_every_note_is_a_valid_sales_note_with_a_unique_id() -> None:
    notes = [SalesNote.model_validate(s.body) for s in sales_traffic(NOW, "T").notes]
    assert len({n.note_id for n in notes}) == len(notes)
    assert {n.intent.value for n in notes} >= {"rush_order", "deal_won", "deal_lost",
                                                "lead_status_changed"}  # fmt: skip


def test_outcomes_span_campaigns_with_japanese_loss_reasons() -> None:
    outcomes = sales_traffic(NOW, "T").outcomes
    assert len({s.body.get("campaign") for s in outcomes} - {None}) == 3
    lost = [s.body for s in outcomes if s.body["intent"] == "deal_lost"]
    assert any(any("\u3040" <= c <= "\u9fff" for c in b["loss_reason_text"]) for b in lost)
    assert all(b["created_at"] <= NOW.isoformat() for b in (s.body for s in outcomes))


def test_shared_customers_appear_in_sales_notes() -> None:
    domains = {str(s.body["customer_email"]).split("@")[1] for s in sales_traffic(NOW, "T").notes}
    assert set(SHARED_CUSTOMERS) <= domains


def test_the_same_seed_gives_the_same_traffic() -> None:
    assert sales_traffic(NOW, "T", seed=3) == sales_traffic(NOW, "T", seed=3)


def test_overdue_tickets_are_urgent_and_raised_the_day_before() -> None:
    tickets = overdue_tickets(NOW, "T")
    assert {t.body["subject"] for t in tickets} == OVERDUE_SUBJECTS
    assert all(t.body["priority"] == "urgent" for t in tickets)
    assert all(t.body["created_at"] < NOW.isoformat() for t in tickets)
