"""Readable plain text from a helpdesk's HTML (Zendesk, Salesforce and Freshdesk descriptions).

The standard library's :class:`html.parser.HTMLParser` reads it: tags dropped, entities
decoded, a line break for each block tag, ``script`` and ``style`` left out. Most
descriptions are a few paragraphs of plain tags (``<p>``, ``<br>``, ``<a href="…">``), and
for those the parser's Python loop was 13 % of ``handoff ingest``'s profile (issue 15,
target 5). :func:`_plain_tags` reads such markup with one regular expression and answers
exactly as the parser does; anything else (a comment, a ``<`` that starts no tag, a tag
outside :data:`PLAIN_TAGS`, an attribute it does not recognise) goes to the parser.
``tests/unit/services/ingest/adapters/test_markup.py`` checks that the two agree.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"})
# tags read alike by the parser and by _plain_tags: no raw text (script, style) or other
# content model the parser treats on its own
PLAIN_TAGS = BREAKS | frozenset(
    {"a", "b", "i", "u", "s", "em", "strong", "span", "font", "small", "sub", "sup", "code",
     "pre", "ul", "ol", "table", "thead", "tbody", "tfoot", "td", "th", "img", "hr", "h5",
     "h6", "center", "del", "ins", "mark", "abbr", "cite", "q", "dl", "dt", "dd"}
)  # fmt: skip
_TAG = re.compile(
    r"""<(/?)([a-zA-Z][a-zA-Z0-9]*)"""  # < or </, the name
    r"""(?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>=`/]+))?)*"""  # attributes
    r"""\s*(/?)>"""
)
_SPACES = re.compile(r"[ \t\u00a0]+")  # a run of these is one space
_MORE_THAN_A_SPACE = re.compile(r"[\t\u00a0]|  ")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(markup: str) -> str:
    """Readable plain text from a helpdesk's HTML description (tags dropped, entities decoded)."""
    if "<" not in markup:
        return html.unescape(markup).strip()
    parts = _plain_tags(markup)
    text = "".join(parts if parts is not None else _parsed(markup))
    if _MORE_THAN_A_SPACE.search(text) is not None:
        text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return (_BLANK_LINES.sub("\n\n", text) if "\n\n\n" in text else text).strip()


def _plain_tags(markup: str) -> list[str] | None:
    """The parts :class:`_TextOnly` would collect, or None when the markup is not plain."""
    parts: list[str] = []
    at = 0
    for tag in _TAG.finditer(markup):
        if (name := tag[2].lower()) not in PLAIN_TAGS or (tag[1] and tag[3]):
            return None
        if not _text(markup[at : tag.start()], parts):
            return None
        if name in BREAKS:
            # <br/> is a start and an end tag to the parser (handle_startendtag): two breaks
            parts.append("\n\n" if tag[3] else "\n")
        at = tag.end()
    return parts if _text(markup[at:], parts) else None


def _parsed(markup: str) -> list[str]:
    parser = _TextOnly()
    parser.feed(markup)
    parser.close()
    return parser.parts


def _text(data: str, parts: list[str]) -> bool:
    """Keep ``data`` decoded; False when a ``<`` in it starts something other than a tag."""
    if "<" in data:
        return False
    if data:
        parts.append(html.unescape(data) if "&" in data else data)
    return True


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)
