"""html_to_text: the one-regex read of plain markup answers exactly as the HTML parser.

The fragments are what helpdesks write and what trips parsers: comments, a bare
``<``, raw-text elements, self-closing tags, unquoted and odd attributes, entities cut
by a tag, upper-case names. Helpdesks send HTML: Zendesk's ticket ``description`` (the
documented ticket object, tests/fixtures/ingest/zendesk_ticket_created.json) and a
comment's ``html_body`` (the JSON format of
https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.adapters import markup
from services.ingest.adapters.markup import html_to_text

FRAGMENTS = [
    "<p>", "</p>", "<P>", "<br>", "<br/>", "<br />", "<BR/>", "</br>", "<div class=\"x\">",
    "</div>", "<li>", "<ul>", "</ul>", "<a href=\"https://example.com/?a=1&amp;b=2\">", "</a>",
    "<a href='x>y'>", "<a href=x/>", "<a href=x>", "<img src=\"a.png\" alt=\"a > b\"/>",
    "<span style=\"color:red\">", "</span>", "<b>", "</b>", "<strong>", "<td>", "<tr>", "</tr>",
    "<script>", "</script>", "<style>", "</style>", "<!-- c -->", "<!--", "-->", "<!DOCTYPE html>",
    "<?xml ?>", "<![CDATA[x]]>", "</p >", "</p class=x>", "</p/>", "<p\n>", "<p  id = a >",
    "<textarea>", "<title>", "<x-y>", "<h1>", "</h4>", "<blockquote>", "<hr>",
    "<", ">", "&", "&amp;", "&lt;", "&gt;", "&nbsp;", "&#x1F600;", "&#39;", "&bogus;", "&am", "p;",
    "支払い", "請求書", "Billing", " ", "  ", "\t", "\n", "\n\n\n", "\u00a0", "a", "=", "\"", "'",
]  # fmt: skip
markup_text = st.lists(st.sampled_from(FRAGMENTS), max_size=24).map("".join)


@settings(max_examples=1500, deadline=None)
@given(markup_text)
def test_the_fast_read_answers_as_the_parser(text: str) -> None:
    fast = markup._plain_tags(text)
    if fast is not None:  # else html_to_text asks the parser
        assert "".join(fast) == "".join(markup._parsed(text))


def test_helpdesk_paragraphs_take_the_fast_read() -> None:
    zendesk = (
        "<p>支払い方法の変更ボタンが見つかりません。</p><p>Billing &amp; invoices &gt; Payment</p>"
        '<p><a href="https://example.zendesk.com/hc">help</a><br/>2行目</p>'
    )
    assert markup._plain_tags(zendesk) is not None
    assert html_to_text(zendesk) == (
        "支払い方法の変更ボタンが見つかりません。\n\nBilling & invoices > Payment\n\nhelp\n\n2行目"
    )


def test_what_is_not_plain_goes_to_the_parser() -> None:
    for text in ("a<!-- hidden -->b", "x<script>alert(1)</script>y", "a < b <p>", "<x-y>a"):
        assert markup._plain_tags(text) is None
    assert html_to_text("x<script>alert(1)</script>y<style>p{}</style>z") == "xyz"
