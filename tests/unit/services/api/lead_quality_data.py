"""A seeded set of leads and outcomes, and the figures worked out by hand from them.

Window [T0, T0 + 30 days). Salesforce leads (``00Q...``) convert into opportunities
(``006...``) that are won or lost; a HubSpot contact (301) gets a deal (900) that is lost.
Days are counted from T0; a day is 86,400 s.

| lead | source     | campaign | account       | start | opportunity | outcome (day)         |
|------|------------|----------|---------------|-------|-------------|-----------------------|
| L1   | Web        | C-Spring | acme.co.jp    | 1     | yes (3)     | won (11): 10 d        |
| L2   | Web        | C-Spring | acme.co.jp    | 2     | yes (4)     | lost other (6): 4 d   |
| L3   | Web        | -        | beta.example  | 5     | no          | not converted (7): 2 d|
| L4   | Trade Show | C-Expo   | gamma.example | 6     | no          | none                  |
| L5   | Trade Show | C-Expo   | acme.co.jp    | 10    | yes (12)    | lost competitor (13):3|
| L6   | Web        | -        | acme.co.jp    | -5    | started before the window: not counted |
| L7   | (a deal without a lead: not a lead)                                              |
| L8   | Web        | -        | delta.example | 29    | yes (35)    | won (40): 11 d        |

By source: Web = L1 L2 L3 L8: 4 leads, 3 reached (0.75), 2 won, 2 lost (other 1,
unqualified 1), times 10 4 2 11 d -> median 7 d = 604,800 s. Trade Show = L4 L5: 2 leads,
1 reached (0.5), 0 won, 1 lost (competitor), median 3 d. All: 6 leads, 4 reached, 2 won,
3 lost, times 10 4 2 3 11 d -> median 4 d.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SINCE, UNTIL = T0, T0 + timedelta(days=30)
DAY = 86_400.0
SF, HS = "/sources/salesforce", "/sources/hubspot"


def rec(n: str, day: float, intent: str, source: str = SF, **fields: Any) -> dict[str, Any]:
    return {"event_id": n, "source": source, "intent": intent,
            "at": T0 + timedelta(days=day)} | fields  # fmt: skip


def lead(n: str, day: float, status: str, lead_id: str, account: str, **f: Any) -> dict[str, Any]:
    return rec(n, day, "lead_status_changed", lead_status=status, lead_id=lead_id,
               account=account, **f)  # fmt: skip


RECORDS: list[dict[str, Any]] = [
    lead("e1", 1, "mql", "00QA1", "acme.co.jp", lead_source="Web", campaign="C-Spring",
         stage="Open - Not Contacted"),
    lead("e2", 3, "opportunity", "00QA1", "acme.co.jp", lead_source="Web",
         opportunity_id="006A1", stage="Closed - Converted"),
    rec("e3", 11, "deal_won", account="crm:001A", opportunity_id="006A1", amount=5_000_000.0,
        currency="JPY", stage="Closed Won"),
    lead("e4", 2, "mql", "00QA2", "acme.co.jp", lead_source="Web", campaign="C-Spring"),
    lead("e5", 4, "opportunity", "00QA2", "acme.co.jp", opportunity_id="006A2"),
    rec("e6", 6, "deal_lost", account="crm:001A", opportunity_id="006A2", loss_reason="other",
        loss_reason_text="納期が合わない", stage="Closed Lost", amount=1_250_000.0,
        currency="JPY"),
    lead("e7", 5, "mql", "00QA3", "beta.example", lead_source="Web"),
    lead("e8", 7, "lost", "00QA3", "beta.example", stage="Closed - Not Converted"),
    lead("e9", 6, "mql", "00QA4", "gamma.example", lead_source="Trade Show", campaign="C-Expo"),
    lead("e10", 8, "sql", "00QA4", "gamma.example", stage="Working - Contacted"),
    rec("e11", 10, "lead_status_changed", HS, lead_status="mql", contact_id="301",
        account="acme.co.jp", lead_source="Trade Show", campaign="C-Expo", stage="NEW"),
    rec("e12", 12, "lead_status_changed", HS, lead_status="opportunity", contact_id="301",
        opportunity_id="900", account="acme.co.jp"),
    rec("e13", 13, "deal_lost", HS, opportunity_id="900", loss_reason="competitor",
        account="company:hubspot-62515-deal-900"),
    lead("e14", -5, "mql", "00QA6", "acme.co.jp", lead_source="Web"),
    lead("e15", 2, "opportunity", "00QA6", "acme.co.jp", opportunity_id="006A6"),
    rec("e16", 2.5, "deal_won", account="crm:001A", opportunity_id="006A6"),
    rec("e17", 9, "deal_won", account="crm:001Z", opportunity_id="006Z7"),
    lead("e18", 29, "mql", "00QA8", "delta.example", lead_source="Web"),
    lead("e19", 35, "opportunity", "00QA8", "delta.example", opportunity_id="006A8"),
    rec("e20", 40, "deal_won", account="crm:001D", opportunity_id="006A8"),
]  # fmt: skip


def figures(group: str, leads: int, reached: int, won: int, lost: dict[str, int],
            median_days: float | None) -> dict[str, Any]:  # fmt: skip
    return {
        "group": group,
        "leads": leads,
        "reached_opportunity": reached,
        "opportunity_rate": reached / leads,
        "won": won,
        "lost": sum(lost.values()),
        "lost_by_reason": lost,
        "median_time_to_outcome_s": None if median_days is None else median_days * DAY,
    }


EXPECTED: dict[str, list[dict[str, Any]]] = {
    "source": [
        figures("Trade Show", 2, 1, 0, {"competitor": 1}, 3),
        figures("Web", 4, 3, 2, {"other": 1, "unqualified": 1}, 7),
    ],
    "campaign": [
        figures("C-Expo", 2, 1, 0, {"competitor": 1}, 3),
        figures("C-Spring", 2, 2, 1, {"other": 1}, 7),
        figures("unknown", 2, 1, 1, {"unqualified": 1}, 6.5),
    ],
    "account": [
        figures("acme.co.jp", 3, 3, 1, {"competitor": 1, "other": 1}, 4),
        figures("beta.example", 1, 0, 0, {"unqualified": 1}, 2),
        figures("delta.example", 1, 1, 1, {}, 11),
        figures("gamma.example", 1, 0, 0, {}, None),
    ],
}
TOTAL = figures("all", 6, 4, 2, {"competitor": 1, "other": 1, "unqualified": 1}, 4)
