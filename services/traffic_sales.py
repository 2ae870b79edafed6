"""Sample sales and manufacturing traffic for the demo (seeded, reproducible).

Stories 2 and 3 as the tools would send them to ingest: plants publishing free
capacity per line, reps asking for rush orders (some the lines can make in time,
some they cannot), and a CRM reporting lead-status changes and deal outcomes over a
few campaigns. Two customers also raise support tickets (the same e-mail domains
as :mod:`services.traffic`), so their account spans departments.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

# (plant, line, products, free units a day)
# Ample against the orders that should fit: the local broker keeps earlier runs' holds
# (for the rule file's hold_expiry), and a rerun should still be answered at once.
LINES: tuple[tuple[str, str, tuple[str, ...], int], ...] = (
    ("hamamatsu-2", "l1", ("wx-200",), 2500),
    ("hamamatsu-2", "l2", ("wx-200", "wx-300"), 3500),
    ("kitakyushu-1", "l1", ("wx-300",), 3000),
)
CAPACITY_DAYS = 21
# Customers of both support and sales: their tickets and notes share an account.
SHARED_CUSTOMERS = ("acme.com", "sakura-shoji.jp")
# The CRM's id for Acme: linked to its e-mail domain through POST /v1/accounts/links.
ACME_CRM_ID = "001DEMO0000ACME"
_SALES_ONLY = ("kobe-seiki.co.jp", "nagoya-denki.co.jp", "contoso.example", "fabrikam.example")
_REPS = ("tanaka", "suzuki", "jones", "garcia")
REP_DOMAIN = "sales.handoff-demo.example"
# (lead source, campaign, chance a lead reaches a deal, chance a deal is won)
CAMPAIGNS: tuple[tuple[str, str, float, float], ...] = (
    ("Web", "2026秋ウェビナー", 0.6, 0.6),
    ("Trade Show", "JIMTOF 2026 展示会", 0.45, 0.4),
    ("Email", "newsletter-2026-11", 0.25, 0.3),
)
LEADS_PER_CAMPAIGN = 8
# (taxonomy reason, the rep's own words)
LOSS_REASONS: tuple[tuple[str, str], ...] = (
    ("budget", "今期の予算が確保できなかった"),
    ("competitor", "競合のA社に価格で負けた"),
    ("timing", "導入時期が来年度にずれた"),
    ("other", "納期が合わない"),
    ("no_need", "Decided to keep their current process"),
)


@dataclass(frozen=True)
class SalesSample:
    """One request to ingest: which endpoint, and the JSON body."""

    endpoint: str
    body: dict[str, Any]


@dataclass(frozen=True)
class SalesTraffic:
    capacity: list[SalesSample]
    rush_orders: list[SalesSample]
    outcomes: list[SalesSample]

    @property
    def notes(self) -> list[SalesSample]:
        return self.rush_orders + self.outcomes


def sales_traffic(now: datetime, prefix: str, seed: int = 7) -> SalesTraffic:
    """Capacity for every line, then rush orders and a CRM's outcomes, as of ``now``."""
    rng = random.Random(seed)
    return SalesTraffic(
        capacity=capacity_updates(now, rng),
        rush_orders=rush_orders(now.date(), prefix, rng),
        outcomes=lead_journeys(now, prefix, rng),
    )


def capacity_updates(now: datetime, rng: random.Random) -> list[SalesSample]:
    """Free units per line for the next weeks, as the plants publish them."""
    return [_capacity(plant, line, products, daily, now, rng)
            for plant, line, products, daily in LINES]  # fmt: skip


def _capacity(
    plant: str, line: str, products: tuple[str, ...], daily: int, now: datetime,
    rng: random.Random,
) -> SalesSample:  # fmt: skip
    days = [now.date() + timedelta(days=n) for n in range(1, CAPACITY_DAYS + 1)]
    free = [{"date": d.isoformat(), "units": _free_units(d, daily, rng)} for d in days]
    body = {"plant": plant, "line": line, "products": list(products),
            "as_of": now.isoformat(), "free": free}  # fmt: skip
    return SalesSample("/v1/sources/capacity/updates", body)


def _free_units(day: date, daily: int, rng: random.Random) -> int:
    """Weekends are off; weekdays vary a little around the line's rate."""
    return 0 if day.weekday() >= 5 else int(daily * rng.uniform(0.8, 1.2))


# (product, plant or None, quantity, days until due, meant to fit the sample capacity)
_ORDERS: tuple[tuple[str, str | None, int, int, bool], ...] = (
    ("wx-200", None, 800, 7, True),
    ("wx-300", "kitakyushu-1", 600, 8, True),
    ("wx-200", "hamamatsu-2", 1200, 10, True),
    ("wx-300", None, 400, 9, True),
    ("wx-200", None, 300, 12, True),
    ("wx-300", None, 900, 14, True),
    ("wx-200", None, 30000, 3, False),
    ("wx-300", "kitakyushu-1", 25000, 4, False),
    ("wx-200", "hamamatsu-2", 50000, 6, False),
)


def rush_orders(today: date, prefix: str, rng: random.Random) -> list[SalesSample]:
    """Orders the lines can make in time (answered at once) and some they cannot."""
    customers = (*SHARED_CUSTOMERS, *_SALES_ONLY)
    return [_order(n, spec, today, customers[n % len(customers)], prefix, rng)
            for n, spec in enumerate(_ORDERS)]  # fmt: skip


def _order(
    n: int, spec: tuple[str, str | None, int, int, bool], today: date, domain: str,
    prefix: str, rng: random.Random,
) -> SalesSample:  # fmt: skip
    product, plant, quantity, days, _ = spec
    japanese = domain.endswith(".jp")
    body: dict[str, Any] = {
        "note_id": f"{prefix}-RUSH-{n + 1}",
        "intent": "rush_order",
        "subject": f"{product.upper()} {quantity:,} 台 至急" if japanese
        else f"Rush: {quantity:,} x {product.upper()}",
        "rep_email": f"{rng.choice(_REPS)}@{REP_DOMAIN}",
        "customer_email": f"purchasing@{domain}",
        "product_line": product, "quantity": quantity,
        "due_date": (today + timedelta(days=days)).isoformat(),
        "opportunity_id": f"{prefix}-OPP-R{n + 1}",
        "locale": "ja" if japanese else "en",
    }  # fmt: skip
    if plant:
        body["plant"] = plant
    return SalesSample("/v1/sources/sales/notes", body)


def lead_journeys(now: datetime, prefix: str, rng: random.Random) -> list[SalesSample]:
    """Leads per campaign moving mql -> sql -> opportunity -> won / lost, over the last day."""
    customers = (*SHARED_CUSTOMERS, *_SALES_ONLY)
    notes: list[SalesSample] = []
    for c, campaign in enumerate(CAMPAIGNS):
        for n in range(LEADS_PER_CAMPAIGN):
            lead = _Lead(f"{prefix}-L{c + 1}{n + 1:02d}", customers[(c + n) % len(customers)])
            notes += _journey(lead, campaign, now, rng)
    return sorted(notes, key=lambda s: str(s.body["created_at"]))


@dataclass(frozen=True)
class _Lead:
    lead_id: str
    domain: str

    @property
    def opportunity_id(self) -> str:
        return f"{self.lead_id}-OPP"


def _journey(
    lead: _Lead, campaign: tuple[str, str, float, float], now: datetime, rng: random.Random
) -> list[SalesSample]:
    source, name, to_deal, to_win = campaign
    start = now - timedelta(hours=rng.uniform(14, 22))
    notes = [_status(lead, "mql", start, source, name)]
    roll = rng.random()
    if roll >= to_deal:  # most leads without a deal stop at sql, some are closed
        if roll > 0.85:
            notes.append(_status(lead, "lost", start + timedelta(hours=3), source, name))
        elif roll > 0.6:
            notes.append(_status(lead, "sql", start + timedelta(hours=2), source, name))
        return notes
    notes.append(_status(lead, "sql", start + timedelta(hours=2), source, name))
    notes.append(_status(lead, "opportunity", start + timedelta(hours=5), source, name))
    at = start + timedelta(hours=rng.uniform(8, 13))
    notes.append(_deal(lead, rng.random() < to_win, at, rng, source))
    return notes


def _status(lead: _Lead, status: str, at: datetime, source: str, campaign: str) -> SalesSample:
    body = _note_base(lead, "lead_status_changed", at, status)
    body.update(lead_status=status, lead_source=source, campaign=campaign,
                subject=f"Lead {lead.lead_id}: {status}")  # fmt: skip
    if status == "opportunity":
        body["opportunity_id"] = lead.opportunity_id
    return SalesSample("/v1/sources/sales/notes", body)


def _deal(lead: _Lead, won: bool, at: datetime, rng: random.Random, source: str) -> SalesSample:
    body = _note_base(lead, "deal_won" if won else "deal_lost", at, "deal")
    body.update(opportunity_id=lead.opportunity_id, lead_source=source, currency="JPY",
                amount=float(rng.randrange(2, 40) * 500_000),
                stage="Closed Won" if won else "Closed Lost",
                subject=f"Deal {lead.opportunity_id} {'won' if won else 'lost'}")  # fmt: skip
    if not won:
        reason, words = rng.choice(LOSS_REASONS)
        body.update(loss_reason=reason, loss_reason_text=words)
    if lead.domain == "acme.com":
        body["crm_account_id"] = ACME_CRM_ID
    return SalesSample("/v1/sources/sales/notes", body)


def _note_base(lead: _Lead, intent: str, at: datetime, step: str) -> dict[str, Any]:
    return {
        "note_id": f"{lead.lead_id}-{step}",
        "intent": intent,
        "customer_email": f"buyer@{lead.domain}",
        "lead_id": lead.lead_id,
        "created_at": at.isoformat(timespec="seconds"),
    }
