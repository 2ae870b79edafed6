"""Slack: a Block Kit message through an incoming webhook.

https://api.slack.com/messaging/webhooks (POST JSON, ``text`` as the
notification fallback) and https://api.slack.com/reference/block-kit/blocks
(``header`` with plain_text up to 150 characters, ``section`` with mrkdwn up
to 3000 characters and up to 10 ``fields``, ``context``).
"""

from __future__ import annotations

from typing import Any

from services.connectors.base import ChatMessage
from services.connectors.http import VendorHttp


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks(message: ChatMessage) -> dict[str, Any]:
    """The message as Block Kit: a header, the text, up to ten facts, a link."""
    found: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _escape(message.text)[:3000]}},
    ]
    if message.facts:
        found.append({"type": "section", "fields": [_field(f) for f in message.facts[:10]]})
    if message.link:
        link = f"<{message.link}|{_escape(message.link_text)}>"
        found.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
    return {"text": message.title, "blocks": found}


def _field(fact: tuple[str, str]) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{_escape(fact[0])}*\n{_escape(fact[1])}"[:2000]}


class SlackChat:
    kind = "slack"

    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    def post(self, message: ChatMessage) -> None:
        self.http.call("POST", "", json=blocks(message))
