"""Microsoft Teams: an Adaptive Card through a workflow (Power Automate) webhook.

https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
(the message envelope: ``type: message`` with one attachment of content type
``application/vnd.microsoft.card.adaptive``) and https://adaptivecards.io/explorer/
(AdaptiveCard 1.4: TextBlock, FactSet, Action.OpenUrl).
"""

from __future__ import annotations

from typing import Any, Final

from services.connectors.base import ChatMessage
from services.connectors.http import VendorHttp

CARD_TYPE: Final = "application/vnd.microsoft.card.adaptive"
SCHEMA: Final = "http://adaptivecards.io/schemas/adaptive-card.json"


def card(message: ChatMessage) -> dict[str, Any]:
    """The message as an Adaptive Card inside Teams' message envelope."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": message.title, "weight": "Bolder", "size": "Medium",
         "wrap": True},
        {"type": "TextBlock", "text": message.text, "wrap": True},
    ]  # fmt: skip
    if message.facts:
        facts = [{"title": name, "value": value} for name, value in message.facts]
        body.append({"type": "FactSet", "facts": facts})
    content: dict[str, Any] = {
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if message.link:
        content["actions"] = [
            {"type": "Action.OpenUrl", "title": message.link_text, "url": message.link}
        ]
    attachment = {"contentType": CARD_TYPE, "contentUrl": None, "content": content}
    return {"type": "message", "attachments": [attachment]}


class TeamsChat:
    kind = "teams"

    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    def post(self, message: ChatMessage) -> None:
        self.http.call("POST", "", json=card(message))
