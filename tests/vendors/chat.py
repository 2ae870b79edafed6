"""Slack and Microsoft Teams incoming webhooks, played on 127.0.0.1, checking every message
against a JSON Schema subset written from the published schemas.

- Slack Block Kit: https://api.slack.com/reference/block-kit/blocks (header: plain_text
  up to 150 chars; section: ``text`` up to 3000 chars and/or up to 10 ``fields`` of up
  to 2000; context: up to 10 elements; at most 50 blocks per message) and
  https://api.slack.com/reference/block-kit/composition-objects#text (``type``
  plain_text | mrkdwn, ``text``); incoming webhooks: https://api.slack.com/messaging/webhooks
  (answers ``200 ok``; rate limited with 429 and ``Retry-After``).
- Adaptive Cards: http://adaptivecards.io/schemas/adaptive-card.json (AdaptiveCard with
  ``version``, ``body`` of TextBlock (``text`` required) / FactSet (``facts`` of
  ``title``/``value``), ``actions`` of Action.OpenUrl (``url`` required)); the Teams
  envelope: https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
  (``type: message``, ``attachments[].contentType: application/vnd.microsoft.card.adaptive``).
"""

from __future__ import annotations

import json
from typing import Any

from tests.vendors.server import Answer, Request, VendorServer

TEXT: dict[str, Any] = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {
        "type": {"enum": ["plain_text", "mrkdwn"]},
        "text": {"type": "string", "minLength": 1},
    },
}
BLOCK_KIT: dict[str, Any] = {
    "type": "object",
    "required": ["blocks"],
    "properties": {
        "text": {"type": "string"},
        "blocks": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["type", "text"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"const": "header"},
                            "block_id": {"type": "string"},
                            "text": {
                                **TEXT,
                                "properties": {
                                    "type": {"const": "plain_text"},
                                    "text": {"type": "string", "minLength": 1, "maxLength": 150},
                                    "emoji": {"type": "boolean"},
                                },
                            },
                        },
                    },
                    {
                        "type": "object",
                        "required": ["type"],
                        "anyOf": [{"required": ["text"]}, {"required": ["fields"]}],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"const": "section"},
                            "block_id": {"type": "string"},
                            "text": {
                                **TEXT,
                                "properties": {
                                    **TEXT["properties"],
                                    "text": {"type": "string", "minLength": 1, "maxLength": 3000},
                                },
                            },
                            "fields": {
                                "type": "array",
                                "maxItems": 10,
                                "items": {
                                    **TEXT,
                                    "properties": {
                                        **TEXT["properties"],
                                        "text": {
                                            "type": "string",
                                            "minLength": 1,
                                            "maxLength": 2000,
                                        },
                                    },
                                },
                            },
                        },
                    },
                    {
                        "type": "object",
                        "required": ["type", "elements"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"const": "context"},
                            "block_id": {"type": "string"},
                            "elements": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 10,
                                "items": TEXT,
                            },
                        },
                    },
                ]
            },
        },
    },
}
ADAPTIVE_ELEMENT = {
    "oneOf": [
        {
            "type": "object",
            "required": ["type", "text"],
            "properties": {
                "type": {"const": "TextBlock"},
                "text": {"type": "string"},
                "wrap": {"type": "boolean"},
                "weight": {"enum": ["Default", "Lighter", "Bolder"]},
                "size": {"enum": ["Default", "Small", "Medium", "Large", "ExtraLarge"]},
            },
        },
        {
            "type": "object",
            "required": ["type", "facts"],
            "properties": {
                "type": {"const": "FactSet"},
                "facts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["title", "value"],
                        "properties": {"title": {"type": "string"}, "value": {"type": "string"}},
                    },
                },
            },
        },
    ]
}
TEAMS_MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["type", "attachments"],
    "properties": {
        "type": {"const": "message"},
        "attachments": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["contentType", "content"],
                "properties": {
                    "contentType": {"const": "application/vnd.microsoft.card.adaptive"},
                    "contentUrl": {"type": ["string", "null"]},
                    "content": {
                        "type": "object",
                        "required": ["type", "version"],
                        "properties": {
                            "$schema": {"type": "string"},
                            "type": {"const": "AdaptiveCard"},
                            "version": {"type": "string", "pattern": "^1\\.[0-6]$"},
                            "body": {"type": "array", "items": ADAPTIVE_ELEMENT},
                            "actions": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["type", "url"],
                                    "properties": {
                                        "type": {"const": "Action.OpenUrl"},
                                        "title": {"type": "string"},
                                        "url": {"type": "string", "format": "uri"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


class ChatServer(VendorServer):
    """An incoming webhook: checks each message against ``schema``, keeps the valid ones."""

    def __init__(self, schema: dict[str, Any]) -> None:
        super().__init__()
        self.schema = schema
        self.messages: list[dict[str, Any]] = []

    def answer(self, request: Request) -> Answer:
        if request.method != "POST" or request.path != "/hook":
            return self.refuse(404, f"{request.method} {request.path}")
        refused = self.check(self.schema, request.json(), "message")
        if refused is None:
            self.messages.append(request.json())
        return refused or Answer(200, "ok")

    def texts(self) -> str:
        return json.dumps(self.messages, ensure_ascii=False)
