"""Realistic sample tickets for the demo and the benchmarks (seeded, reproducible)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# (component, subject, description, language)
_TEMPLATES: tuple[tuple[str | None, str, str, str], ...] = (
    (
        "billing-ui",
        "請求書の画面が分かりにくい",
        "<p>支払い方法の変更ボタンが見つかりません。</p>",
        "ja",
    ),
    (
        "billing-ui",
        "The invoice screen is confusing",
        "Where do I change the billing address?",
        "en",
    ),
    ("invoices", "Invoice PDF shows the wrong tax rate", "VAT 19% instead of 7% on line 3.", "en"),
    ("invoices", "請求書のPDFに会社名が表示されない", "先月から社名欄が空欄です。", "ja"),
    (
        "payments",
        "Card payment declined twice",
        "Customer retried with two cards, both declined.",
        "en",
    ),
    ("login", "ログインできません", "パスワードをリセットしてもエラーになります。", "ja"),
    ("login", "Locked out after password reset", "Reset link expires immediately.", "en"),
    (
        "sso",
        "SAML SSO fails for new users",
        "IdP-initiated login returns 403 for new accounts.",
        "en",
    ),
    ("mobile-app", "アプリが起動直後に落ちる", "iOS 18 で起動するとすぐに終了します。", "ja"),
    ("mobile-app", "Push notifications stopped", "No notifications since the last update.", "en"),
    ("api", "API returns 500 on /orders", "Intermittent 500s when paging past 1000 orders.", "en"),
    ("webhooks", "Webhooks arrive twice", "Each order.created webhook is delivered twice.", "en"),
    ("reports", "月次レポートの数値が合わない", "ダッシュボードとCSVで売上が一致しません。", "ja"),
    (
        "reports",
        "Export to CSV is empty",
        "The export finishes but the file has only headers.",
        "en",
    ),
    (None, "How do I add a colleague?", "I cannot find where to invite users.", "en"),
    (None, "契約内容を確認したい", "現在のプランと更新日を教えてください。", "ja"),
)
_DOMAINS = (
    "example.co.jp", "sakura-shoji.jp", "acme.com", "globex.example", "initech.example",
    "umbrella.example", "yamato-unyu.co.jp", "gmail.com",
)  # fmt: skip
_PEOPLE = ("taro", "hanako", "kenji", "yuki", "alice", "bob", "carol", "dave", "emi", "sora")
_PRIORITIES = (("low", 2), ("normal", 5), ("high", 2), ("urgent", 1))

ANSWERS = {
    "ja": "修正をリリースしました。ご不便をおかけしました。",
    "en": "Fixed in today's release; thanks for reporting it.",
}


@dataclass(frozen=True)
class SampleTicket:
    body: dict[str, Any]
    language: str


def sample_tickets(count: int, seed: int = 7, prefix: str = "DEMO") -> list[SampleTicket]:
    """``count`` tickets spread over components, priorities, accounts and languages."""
    rng = random.Random(seed)
    names = [p for p, _ in _PRIORITIES]
    weights = [w for _, w in _PRIORITIES]
    tickets = []
    for n in range(count):
        component, subject, description, language = rng.choice(_TEMPLATES)
        body: dict[str, Any] = {
            "ticket_id": f"{prefix}-{n + 1}",
            "subject": subject,
            "description": description,
            "requester_email": f"{rng.choice(_PEOPLE)}@{rng.choice(_DOMAINS)}",
            "priority": rng.choices(names, weights)[0],
        }
        if component:
            body["component"] = component
        tickets.append(SampleTicket(body, language))
    return tickets


# Raised yesterday and still open: urgent tickets whose SLA has passed (the breached column).
# (subject, description, language, the customer's domain)
_OVERDUE = (
    ("本番環境で決済エラーが続いている", "昨夜から全ての決済が失敗しています。", "ja",
     "sakura-shoji.jp"),
    ("Production exports failing since last night", "Every nightly export errors out.", "en",
     "acme.com"),
)  # fmt: skip
OVERDUE_SUBJECTS = frozenset(subject for subject, *_ in _OVERDUE)


def overdue_tickets(now: datetime, prefix: str) -> list[SampleTicket]:
    """Urgent tickets raised 20 hours ago, left unanswered by the demo's teams."""
    raised = (now - timedelta(hours=20)).isoformat(timespec="seconds")
    return [_overdue(f"{prefix}-OVERDUE-{n + 1}", spec, raised) for n, spec in enumerate(_OVERDUE)]


def _overdue(ticket_id: str, spec: tuple[str, str, str, str], raised: str) -> SampleTicket:
    subject, text, language, domain = spec
    body = {"ticket_id": ticket_id, "subject": subject, "description": text,
            "requester_email": f"ops@{domain}", "priority": "urgent",
            "created_at": raised}  # fmt: skip
    return SampleTicket(body, language)
