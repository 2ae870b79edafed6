"""Alertmanager's regexes are RE2, anchored as ^(?:...)$: the same answers from re."""

from __future__ import annotations

import pytest

from services.core.re2 import compile_anchored

# (pattern, text, matches): Go's regexp gives these answers for ^(?:pattern)$
SAME_ANSWERS = [
    ("urgent|high", "high", True),
    ("urg", "urgent", False),  # anchored
    ("urgent", "urgent\n", False),  # '$' is the end of the text in RE2
    ("a$", "a", True),
    ("(?i)critical", "CRITICAL", True),  # a flag at the start, as Alertmanager users write it
    ("(?i)warning|critical", "Critical", True),
    ("a(?i)b", "aB", True),
    ("a(?i)b", "AB", False),
    ("x(?i:y)z", "xYz", True),
    (r"\d+", "１２", False),  # RE2's \d, \w, \s are ASCII
    (r"\d+", "12", True),
    (r"\w+", "請求", False),
    (r"[\d.]+", "1.5", True),
    (r"\s", "\v", False),
    ("[[:alpha:]]+", "abcXYZ", True),  # POSIX classes
    ("[[:digit:]-]+", "12-3", True),
    (r"\x{1F642}", "🙂", True),
    (r"\Qa.b\E", "a.b", True),
    (r"\Qa.b\E", "axb", False),
    ("a{,5}", "a{,5}", True),  # not a repetition in RE2: literal
    ("(?<n>a)b", "ab", True),
    (r"\bfoo\b", "foo", True),
    ("a)|(b", "xxb", True),  # Alertmanager wraps the text as is: ^(?:a)|(b)$
    ("a)|(b", "ax", True),
    ("(?s).+", "a\nb", True),
    (".+", "a\nb", False),
    ("[a&&b]+", "a&b", True),
]


@pytest.mark.parametrize(("pattern", "text", "matches"), SAME_ANSWERS)
def test_same_answers_as_re2(pattern: str, text: str, matches: bool) -> None:
    assert (compile_anchored(pattern).search(text) is not None) is matches


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(", "missing )"),
        ("[a", "missing closing ]"),
        ("invalid[regexp", "missing closing ]"),  # pkg/labels/parse_test.go
        ("(?=a)", "does not have"),  # lookahead: RE2 has none
        ("(?<!a)b", "does not have"),
        ("(?>a)", "does not have"),
        ("(?P=n)", "does not have"),
        (r"(a)\1", r"\1: not RE2 syntax"),  # backreference
        (r"a\Z", r"\Z: not RE2 syntax"),
        (r"\u00e9", r"\u: not RE2 syntax"),
        ("a*+", "possessive"),
        ("a{2}+", "possessive"),
        ("a**", "multiple repeat"),
        ("a{1001}", "at most 1000"),
        ("(?x)a", "does not have"),
        # RE2 syntax handoff does not support: refused rather than read differently
        (r"\pL", "Unicode classes"),
        (r"\p{Greek}", "Unicode classes"),
        ("(?U)a+", "does not have"),
        (r"[\D]", "inside [...]"),
        ("[[:^alpha:]]", "not supported"),
        ("a(?i)b|c", "before a '|'"),
    ],
)
def test_refused_with_the_reason(pattern: str, reason: str) -> None:
    with pytest.raises(ValueError, match="bad regex") as err:
        compile_anchored(pattern)
    assert reason in str(err.value)
