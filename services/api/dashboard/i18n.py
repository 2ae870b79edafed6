"""The dashboard's words in English and Japanese, and which language a viewer reads.

The language comes from the ``handoff_lang`` cookie (set by the switch link),
else the browser's ``Accept-Language``, else English. Every key is in both
catalogues (a unit test checks it, and that every key a template uses exists).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from services.api.dashboard.words_en import EN
from services.api.dashboard.words_ja import JA

LANGUAGES: Final = ("en", "ja")
DEFAULT: Final = "en"
COOKIE: Final = "handoff_lang"
CATALOGUES: Final[dict[str, dict[str, str]]] = {"en": EN, "ja": JA}

Translate = Callable[..., str]


def _ranked(header: str) -> list[tuple[float, str]]:
    """``Accept-Language`` entries as (q, primary language), in the order given."""
    ranked = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((q, tag.strip().split("-")[0].lower()))
    return ranked


def from_accept_language(header: str | None) -> str:
    """The first supported language the browser prefers (highest q), else English."""
    best = [(q, lang) for q, lang in _ranked(header or "") if lang in LANGUAGES and q > 0]
    return max(best, key=lambda entry: entry[0])[1] if best else DEFAULT


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The viewer's language: the switch's cookie first, then the browser's preference."""
    return cookie if cookie in LANGUAGES else from_accept_language(accept_language)


def translator(lang: str) -> Translate:
    """``t(key, **values)`` for ``lang``: the catalogue's text with ``{values}`` filled in."""
    words = CATALOGUES.get(lang, EN)

    def t(key: str, **values: object) -> str:
        text = words.get(key, EN.get(key, key))
        return text.format(**values) if values else text

    return t


def other(lang: str) -> str:
    """The language the switch link offers."""
    return "en" if lang == "ja" else "ja"
