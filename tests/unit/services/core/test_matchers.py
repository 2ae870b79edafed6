from __future__ import annotations

import pytest

from services.core.errors import RuleError
from services.core.matchers import Op, parse_matcher, parse_matchers

LABELS = {"type": "support.ticket", "priority": "urgent", "customer.tier": "gold", "empty": ""}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ('type="support.ticket"', True),
        ("type=support.ticket", True),  # bare values, as Alertmanager accepts
        ('type!="support.ticket"', False),
        ('priority=~"urgent|high"', True),
        ('priority=~"urg"', False),  # anchored: no partial match
        ('priority=~"urg.*"', True),
        ('priority!~"low|normal"', True),
        ('customer.tier="gold"', True),
        ('missing=""', True),  # an absent label is the empty string
        ('missing!=""', False),
        ('missing=~".*"', True),
        ('missing=~".+"', False),
        ('empty=""', True),
        (' priority = "urgent" ', True),
    ],
)
def test_matcher_semantics_table(text: str, matches: bool) -> None:
    assert parse_matcher(text).matches(LABELS) is matches


@pytest.mark.parametrize(
    ("text", "value"),
    [(r'a="say \"hi\""', 'say "hi"'), (r'a="back\\slash"', "back\\slash"), (r'a="x\ny"', "x\ny"),
     ('a="請求書"', "請求書")],
)  # fmt: skip
def test_quoted_values_unescape_and_print_back(text: str, value: str) -> None:
    matcher = parse_matcher(text)
    assert matcher.value == value
    assert parse_matcher(str(matcher)) == matcher


@pytest.mark.parametrize(
    ("text", "reason"),
    [("priority", "is not a matcher"), ('=~"x"', "is not a matcher"), ('a=~"("', "bad regex")],
)
def test_bad_matchers_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_matcher(text)


def test_legacy_match_and_match_re_sit_beside_matchers() -> None:
    found = parse_matchers(
        {"matchers": ['type="support.ticket"'], "match": {"team": "x"}, "match_re": {"p": "a|b"}},
        "route",
    )
    assert [(m.name, m.op) for m in found] == [
        ("type", Op.EQUAL),
        ("team", Op.EQUAL),
        ("p", Op.REGEX),
    ]


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"matchers": "type=x"}, "route.matchers"),
        ({"matchers": [1]}, "route.matchers[0]"),
        ({"matchers": ["ok=1", "nope"]}, "route.matchers[1]"),
        ({"match_re": {"p": "("}}, "route.match_re.p"),
        ({"match": ["x"]}, "route.match"),
    ],
)
def test_parse_matchers_names_the_place(doc: dict[str, object], where: str) -> None:
    with pytest.raises(RuleError) as err:
        parse_matchers(doc, "route")
    assert err.value.where == where


def test_anchoring_does_not_let_a_trailing_newline_through() -> None:
    matcher = parse_matcher('priority=~"urgent"')
    assert not matcher.matches({"priority": "urgent\n"})
    assert parse_matcher('priority!~"urgent"').matches({"priority": "urgent\n"})
