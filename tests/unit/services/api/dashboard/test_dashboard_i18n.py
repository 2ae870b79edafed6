"""The catalogues: every key in both languages, every key a template uses exists."""

from __future__ import annotations

import re
import string

import pytest

from services.api.dashboard import i18n
from services.api.dashboard.render import TEMPLATES
from services.api.dashboard.words_en import EN
from services.api.dashboard.words_ja import JA

USED = re.compile(r"""\bt\(\s*["']([a-z0-9_]+)["']\s*[,)]""")
PREFIXED = re.compile(r"""t\(\s*["']([a-z_]+_)["']\s*~""")


def test_every_key_is_in_both_languages() -> None:
    assert set(EN) == set(JA)
    assert all(EN.values())
    assert all(JA.values())


def test_placeholders_match_between_languages() -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert {k: fields(v) for k, v in EN.items()} == {k: fields(v) for k, v in JA.items()}


def test_japanese_is_japanese() -> None:
    """A Japanese text is not an English one copied over (names and codes excepted)."""
    same = {k for k in EN if EN[k] == JA[k]}
    assert same <= {"col_sla"}


def _templates() -> str:
    return "\n".join(p.read_text() for p in TEMPLATES.glob("*.html"))


def test_every_key_a_template_uses_exists() -> None:
    used = set(USED.findall(_templates()))
    assert used
    assert used - set(EN) == set()


def test_every_prefix_a_template_builds_has_its_keys() -> None:
    """``t("state_" ~ task.state)``: every state, SLA mark, delivery state, window, action."""
    prefixes = set(PREFIXED.findall(_templates()))
    assert {"state_", "sla_", "delivery_", "window_", "do_", "title_"} <= prefixes
    for state in ("open", "acknowledged", "in_progress", "resolved", "rejected", "reassigned",
                  "reopened"):  # fmt: skip
        assert f"state_{state}" in EN
    for mark in ("ok", "at_risk", "breached", "met", "missed"):
        assert f"sla_{mark}" in EN
    for delivery in ("waiting", "published", "delivered", "retrying", "parked"):
        assert f"delivery_{delivery}" in EN


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("ja,en-US;q=0.9", "ja"),
        ("en-US,en;q=0.9,ja;q=0.8", "en"),
        ("fr-FR,ja;q=0.5", "ja"),
        ("ja;q=0.2,en;q=0.8", "en"),
        ("fr", "en"),
        ("", "en"),
        (None, "en"),
        ("ja;q=bad", "en"),
    ],
)
def test_the_language_from_accept_language(header: str | None, lang: str) -> None:
    assert i18n.from_accept_language(header) == lang


def test_the_switch_cookie_wins_over_the_browser() -> None:
    assert i18n.choose("en", "ja") == "en"
    assert i18n.choose("xx", "ja") == "ja"


def test_the_translator_fills_in_values() -> None:
    assert i18n.translator("ja")("n_requests", n=14) == "依頼 14 件"
    assert i18n.translator("en")("n_requests", n=14) == "requests: 14"


def test_every_message_a_page_may_show_exists() -> None:
    from services.api.dashboard.actions import ACTIONS, ERRORS

    assert {key for _, key in ERRORS} | {"error_token", "error_csrf"} <= set(EN)
    assert {f"done_{action}" for action in ACTIONS} <= set(EN)
    assert {f"do_{action}" for action in ACTIONS} <= set(EN)
