"""The callback URL's documented pattern and the server agree (issue 16, item 17).

A client validating against our OpenAPI document must not refuse a URL the
server takes: Slack and Teams workflow URLs, a Jira automation webhook with
``?token=``, ports above 9999, upper-case letters. Every URL the pattern
matches (generated from it) is one the server accepts, and realistic URLs
(generated, and real ones) are accepted by both.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.api.payloads.callbacks import URL_MAX_LENGTH, CallbackRequest

SCHEMA = CallbackRequest.model_json_schema()["properties"]["url"]
PATTERN = re.compile(SCHEMA["pattern"])
VALIDATOR = jsonschema_rs.validator_for(SCHEMA)
# Endpoints as their vendors hand them out. Sources:
# - Slack incoming webhook: api.slack.com/messaging/webhooks ("a unique URL",
#   hooks.slack.com/services/T.../B.../...); Slack Workflow Builder webhooks are
#   hooks.slack.com/triggers/<team>/<id>/<secret>.
# - Azure Logic Apps (Teams workflows): learn.microsoft.com, Get-AzLogicAppTriggerCallbackUrl,
#   example value prod-03.westus.logic.azure.com:443/workflows/<id>/triggers/manual/run
#   ?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=<value>; and the REST
#   "Workflow Triggers - List Callback Url" example with .../triggers/<name>/paths/invoke.
# - Jira Automation incoming webhooks (a secret ?token=): the two URL shapes Jira's
#   automation UI shows; no published example was at hand to cite, so they are shapes only.
# - Zendesk's ticket update endpoint: developer.zendesk.com, PUT /api/v2/tickets/{ticket_id}.
REAL = [
    "https://hooks.slack.com/triggers/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",
    "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "https://prod-03.westus.logic.azure.com:443/workflows/c4ed9335bc864140a11f4508d19acea3"
    "/triggers/manual/run?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Ab-c_D1",
    "https://prod-27.westeurope.logic.azure.com:443/workflows/5a3c8e0d9b1f4e2a/triggers/manual"
    "/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Ab-c_D1",
    "https://automation.atlassian.com/pro/hooks/0f3c2b1a9e8d7c6b5a4f3e2d1c0b9a8f?token=AbC123",
    "https://api-private.atlassian.com/automation/webhooks/jira/a/0f3c2b1a/0192c3d4?token=x-Y_z",
    "https://example.zendesk.com/api/v2/tickets/{ticket_id}",
    "https://hooks.internal.example.com:10443/handoff",
    "http://10.0.12.7:65535/Callback?Team=Billing#top",
    "HTTPS://Helpdesk.Example.COM/Hooks/Handoff",
]


def server_accepts(url: str) -> bool:
    body = {"source": "/sources/support", "url": url, "secret": "s" * 16}
    try:
        CallbackRequest.model_validate(body)
    except ValidationError:
        return False
    return True


def documented(url: str) -> bool:
    """What a JSON Schema validator says, checked against Python's ``re`` reading."""
    matches = PATTERN.search(url) is not None and len(url) <= URL_MAX_LENGTH
    assert VALIDATOR.is_valid(url) == matches, url
    return matches


def test_the_schema_documents_the_servers_rule() -> None:
    assert SCHEMA["type"] == "string"
    assert SCHEMA["maxLength"] == URL_MAX_LENGTH
    assert "AnyHttpUrl" in SCHEMA["description"]
    assert all(documented(url) and server_accepts(url) for url in SCHEMA["examples"])


def test_the_pattern_is_ecma_262_too() -> None:
    python_only = ["(?P", "(?#", "(?<", "(?>", "(?(", "(?i", "(?a", "(?s", "(?m", "(?x", "(?u",
                   "(?L", "\\A", "\\Z", "\\z"]  # fmt: skip
    assert [syntax for syntax in python_only if syntax in PATTERN.pattern] == []
    assert PATTERN.pattern.startswith("^")
    assert PATTERN.pattern.endswith("$")


@pytest.mark.parametrize("url", REAL)
def test_real_endpoints_are_accepted_by_both(url: str) -> None:
    assert documented(url)
    assert server_accepts(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "https://example.com:65536/",
        "https://xn--zz.example.com/",  # not valid punycode
        "https://1.2.3.4.5/",  # ends in a number: read as a bad IPv4 address
        "https://example.com/" + "a" * URL_MAX_LENGTH,
        "https://exa mple.com/",
    ],
)
def test_what_the_server_refuses_the_pattern_refuses(url: str) -> None:
    assert not server_accepts(url)
    assert not documented(url)


@settings(derandomize=True, max_examples=400, deadline=None)
@given(st.from_regex(PATTERN, fullmatch=True))
def test_every_url_the_pattern_matches_the_server_accepts(url: str) -> None:
    assume(len(url) <= URL_MAX_LENGTH)
    assert documented(url)
    assert server_accepts(url), url


LABEL = st.from_regex(re.compile(r"[A-Za-z]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?"), fullmatch=True)
SEGMENT = st.text("abcXYZ019-._~{}", min_size=1, max_size=12)
QUERY = st.lists(st.tuples(st.sampled_from(["token", "sig", "api-version", "Team"]), SEGMENT))


@st.composite
def realistic_urls(draw: Any) -> str:
    scheme = draw(st.sampled_from(["https", "http", "HTTPS"]))
    labels = draw(st.lists(LABEL.filter(lambda s: not s.lower().startswith("xn--")), min_size=1,
                           max_size=4))  # fmt: skip
    port = draw(st.none() | st.integers(1, 65535))
    path = "".join(f"/{segment}" for segment in draw(st.lists(SEGMENT, max_size=5)))
    query = "&".join(f"{k}={v}" for k, v in draw(QUERY))
    netloc = ".".join(labels) + (f":{port}" if port is not None else "")
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


@settings(derandomize=True, max_examples=400, deadline=None)
@given(realistic_urls())
def test_realistic_urls_are_accepted_by_both(url: str) -> None:
    assert server_accepts(url), url
    assert documented(url), url
