from __future__ import annotations

import re

import pytest

from services.core.errors import RuleError
from services.core.matcher_syntax import (
    MatcherSyntaxError,
    Triple,
    classic_matchers,
    go_unquote,
    utf8_matchers,
)
from services.core.matchers import (
    Matcher,
    Op,
    all_match,
    parse_matcher,
    parse_matcher_text,
    parse_matchers,
)

NO_OPERATOR = "expected an operator such as '=', '!=', '=~' or '!~'"

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


# --- Alertmanager's matcher grammar, table-driven ---------------------------------------
# Rows are taken from prometheus/alertmanager (main, fetched 2026-11): inputs verbatim,
# expected results or Alertmanager's own error text. A row is (input, expected), expected
# being the list of (name, op, value) or the error message (a str).

UTF8_PARSER: list[tuple[str, list[Triple] | str]] = [
    # matcher/parse/parse_test.go, TestMatchers: accepted
    ("", []),
    ("{}", []),
    ("{foo=bar}", [("foo", "=", "bar")]),
    ("{foo=bar,}", [("foo", "=", "bar")]),
    ("{foo!=bar}", [("foo", "!=", "bar")]),
    ("{foo=~[a-z]+}", [("foo", "=~", "[a-z]+")]),
    ("{foo!~[a-z]+}", [("foo", "!~", "[a-z]+")]),
    ("{foo=🙂}", [("foo", "=", "🙂")]),
    ("{foo=🙂bar}", [("foo", "=", "🙂bar")]),
    ("foo=bar", [("foo", "=", "bar")]),
    ("foo=bar,", [("foo", "=", "bar")]),
    ("foo!=bar", [("foo", "!=", "bar")]),
    ("foo=~[a-z]+", [("foo", "=~", "[a-z]+")]),
    ("foo!~[a-z]+", [("foo", "!~", "[a-z]+")]),
    ('{"foo"="bar"}', [("foo", "=", "bar")]),
    ('{"foo"="bar",}', [("foo", "=", "bar")]),
    ('{"foo"!="bar"}', [("foo", "!=", "bar")]),
    ('{"foo"=~"[a-z]+"}', [("foo", "=~", "[a-z]+")]),
    (r'{"foo"=~"\\d+"}', [("foo", "=~", r"\d+")]),
    ('{"foo"!~"[a-z]+"}', [("foo", "!~", "[a-z]+")]),
    ('{"foo"="🙂"}', [("foo", "=", "🙂")]),
    (r'{"foo"="\xf0\x9f\x99\x82"}', [("foo", "=", "🙂")]),
    (r'{"foo"="\U0001f642"}', [("foo", "=", "🙂")]),
    ('{"foo"="🙂bar"}', [("foo", "=", "🙂bar")]),
    (r'{"foo"="bar\n"}', [("foo", "=", "bar\n")]),
    (r'{"foo"="bar\t"}', [("foo", "=", "bar\t")]),
    (r'{"foo"="\"bar\""}', [("foo", "=", '"bar"')]),
    (r'{"foo"="bar\\"}', [("foo", "=", "bar\\")]),
    ('"foo"="bar"', [("foo", "=", "bar")]),
    ('"foo"="bar",', [("foo", "=", "bar")]),
    ("{foo=bar,bar!=baz}", [("foo", "=", "bar"), ("bar", "!=", "baz")]),
    ('{foo="bar",bar!="baz"}', [("foo", "=", "bar"), ("bar", "!=", "baz")]),
    ("foo=bar,bar!=baz", [("foo", "=", "bar"), ("bar", "!=", "baz")]),
    ('foo="bar",bar!="baz"', [("foo", "=", "bar"), ("bar", "!=", "baz")]),
    # matcher/parse/parse_test.go, TestMatchers: refused, with Alertmanager's message
    (",", "0:1: unexpected ,: expected label name"),
    ("{,}", "1:2: unexpected ,: expected label name"),
    ("{", "0:1: end of input: expected close brace"),
    ("}", "0:1: }: expected opening brace"),
    ("foo=bar}", "0:8: }: expected opening brace"),
    ("{foo=bar", "0:8: end of input: expected close brace"),
    ('{foo=:"bar"}', '6:11: unexpected "bar": expected a comma or close brace'),
    (r'{foo="bar\w"}', r'5:12: "bar\w": invalid input'),
    (r'{"foo"=~"\d+"}', r'8:13: "\d+": invalid input'),
    (r"{foo=bar\n}", r"8:9: \: invalid input: expected a comma or close brace"),
    (r'{"foo"="\xf0\x9f"}', r'7:17: "\xf0\x9f": invalid input'),
    # matcher/parse/parse_test.go, TestMatcher ("invalid unicode")
    (r'foo="\xf0\x9f"', r'4:14: "\xf0\x9f": invalid input'),
    # matcher/parse/lexer_test.go, TestLexer: the lexer's errors, as the parser reports them
    ("!", "0:1: unexpected end of input, expected one of '=~'"),
    ("~", "0:1: ~: invalid input"),
    ("hello!", "5:6: unexpected end of input, expected one of '=~': " + NO_OPERATOR),
    (r"\n", r"0:1: \: invalid input"),
    (r"hello\n", r"5:6: \: invalid input: " + NO_OPERATOR),
    ('"hello', '0:6: "hello: missing end "'),
    ('"hello\\"', '0:8: "hello\\": missing end "'),
]


@pytest.mark.parametrize(("text", "expected"), UTF8_PARSER)
def test_utf8_parser_agrees_with_alertmanager(text: str, expected: list[Triple] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(MatcherSyntaxError) as err:
            utf8_matchers(text)
        assert str(err.value) == expected
    else:
        assert utf8_matchers(text) == expected


CLASSIC_PARSER: list[tuple[str, list[Triple] | str]] = [
    # pkg/labels/parse_test.go, TestMatchers: accepted
    ("{}", []),
    ("{foo='}", [("foo", "=", "'")]),
    ("{foo=`}", [("foo", "=", "`")]),
    ('{foo=\\"}', [("foo", "=", '"')]),
    ("{foo=~bar.*}", [("foo", "=~", "bar.*")]),
    ('{foo!~"bar.*"}', [("foo", "!~", "bar.*")]),
    ('{foo="bar", baz!~"quux.*"}', [("foo", "=", "bar"), ("baz", "!~", "quux.*")]),
    ('{foo="bar", instance=~"some-api.*"}',
     [("foo", "=", "bar"), ("instance", "=~", "some-api.*")]),
    ('{foo=""}', [("foo", "=", "")]),
    ('{foo="bar,quux", job="job1"}', [("foo", "=", "bar,quux"), ("job", "=", "job1")]),
    ('{foo = "bar", dings != "bums", }', [("foo", "=", "bar"), ("dings", "!=", "bums")]),
    ("foo=bar,dings!=bums", [("foo", "=", "bar"), ("dings", "!=", "bums")]),
    (r'{quote="She said: \"Hi, ladies! That' + "'" + r's gender-neutral…\""}',
     [("quote", "=", "She said: \"Hi, ladies! That's gender-neutral…\"")]),
    ('statuscode=~"5.."', [("statuscode", "=~", "5..")]),
    ("tricky=~~~", [("tricky", "=~", "~~")]),
    (r'trickier==\\=\=\"', [("trickier", "=", r'=\=\="')]),
    (r'contains_quote != "\"" , contains_comma !~ "foo,bar" , ',
     [("contains_quote", "!=", '"'), ("contains_comma", "!~", "foo,bar")]),
    ("{foo=bar}}", [("foo", "=", "bar}")]),
    ("{foo=,bar=}}", [("foo", "=", ""), ("bar", "=", "}")]),
    (r"{foo=bar\t}", [("foo", "=", r"bar\t")]),
    (r"{foo=bar\n}", [("foo", "=", "bar\n")]),
    ("{foo=bar\\}", [("foo", "=", "bar\\")]),
    ("job=", [("job", "=", "")]),
    ("{foo=}b", [("foo", "=", "}b")]),
    # pkg/labels/parse_test.go, TestMatchers: refused, with Alertmanager's message
    (",", "bad matcher format: "),
    ('job="value', 'matcher value contains unescaped double quote: "value'),
    ('job=value"', 'matcher value contains unescaped double quote: value"'),
    ('contains_unescaped_quote = foo"bar',
     'matcher value contains unescaped double quote: foo"bar'),
    ('{invalid-name = "valid label"}', 'bad matcher format: invalid-name = "valid label"'),
    ('"foo=\\"bar"', 'bad matcher format: "foo=\\"bar"'),
    ("{{foo=", "bad matcher format: {foo="),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), CLASSIC_PARSER)
def test_classic_parser_agrees_with_alertmanager(text: str, expected: list[Triple] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
            classic_matchers(text)
    else:
        assert classic_matchers(text) == expected


WATCHDOG = [("alertname", "=", "Watchdog"), ("severity", "=~", "warning|critical")]
FALLBACK: list[tuple[str, list[Triple] | int]] = [
    # matcher/compat/parse_test.go, TestFallbackMatcherParser / TestFallbackMatchersParser
    ("foo=bar", [("foo", "=", "bar")]),
    ("foo!bar", 4),  # accepted in neither: refused (an int: the column we report)
    ("foo🙂=bar", [("foo🙂", "=", "bar")]),  # UTF-8 parser only
    (r"foo=!bar\n", [("foo", "=", "!bar\n")]),  # classic parser only
    (r'foo="\xf0\x9f\x99\x82"', [("foo", "=", r"\xf0\x9f\x99\x82")]),  # disagreement: classic
    ("{foo=bar,bar=baz}", [("foo", "=", "bar"), ("bar", "=", "baz")]),
    ("{foo!bar}", 5),
    ("{foo🙂=bar,bar=baz🙂}", [("foo🙂", "=", "bar"), ("bar", "=", "baz🙂")]),
    (r"{foo=!bar,bar=$baz\n}", [("foo", "=", "!bar"), ("bar", "=", "$baz\n")]),
    # docs/configuration.md, "Fallback mode" (its warning examples)
    ("foo=", [("foo", "=", "")]),
    # docs/configuration.md, "<matcher>": "Composition of matchers"
    ("alertname = Watchdog", [WATCHDOG[0]]),
    ('severity =~ "warning|critical"', [WATCHDOG[1]]),
    ('{alertname="Watchdog", severity=~"warning|critical"}', WATCHDOG),
    ('{alertname="Watchdog", severity=~"warning|critical",}', WATCHDOG),
    ('alertname="Watchdog", severity=~"warning|critical"', WATCHDOG),
    # ... the docs say these two "cannot" be written: true in UTF-8 strict mode; in the
    # default fallback mode the classic parser, which strips one brace at either end, takes them
    ('{alertname="Watchdog", severity=~"warning|critical"', WATCHDOG),
    ('alertname="Watchdog", severity=~"warning|critical"}', WATCHDOG),
    ('{{alertname="Watchdog", severity=~"warning|critical",}}', 2),
    ('{\n   alertname = "Watchdog",\n   severity =~ "warning|critical",\n}', WATCHDOG),
    # docs/configuration.md, "<matcher>": "More examples" and the YAML quoting note
    ("foo = bar", [("foo", "=", "bar")]),
    ("dings != bums", [("dings", "!=", "bums")]),
    ('foo = "bar,baz"', [("foo", "=", "bar,baz")]),
    ('{foo="bar", dings!="bums"}', [("foo", "=", "bar"), ("dings", "!=", "bums")]),
    ('{quote=~"She said: \\"Hi, all!( How\'re you…)?\\""}\n',  # a YAML block ends in \n
     [("quote", "=~", "She said: \"Hi, all!( How're you…)?\"")]),
    ("env !~ preprod", [("env", "!~", "preprod")]),
    ('env =~ "prod|staging"', [("env", "=~", "prod|staging")]),
    ('env !~ "uat"', [("env", "!~", "uat")]),
    # docs/configuration.md, "<matcher>": "UTF-8 matchers" (unquoted and quoted literals)
    ("name=Προμηθεύς", [("name", "=", "Προμηθεύς")]),
    ('a="foo!",b="bar,baz",c="\\"baz qux\\""', [("a", "=", "foo!"), ("b", "=", "bar,baz"),
                                                 ("c", "=", '"baz qux"')]),
    # handoff issue 16: what a user wrote from those docs
    ('{type="sales.note"}', [("type", "=", "sales.note")]),
    ('component=~"a|b", priority!="low"', [("component", "=~", "a|b"), ("priority", "!=", "low")]),
    # pkg/labels/parse_test.go: a bad regex is refused by both parsers
    ('{foo=~"invalid[regexp"}', "bad regex"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), FALLBACK)
def test_a_matchers_item_reads_as_alertmanagers_fallback_mode(
    text: str, expected: list[Triple] | int | str
) -> None:
    if isinstance(expected, list):
        assert [(m.name, m.op.value, m.value) for m in parse_matcher_text(text)] == expected
        return
    want = f"is not a matcher: column {expected}:" if isinstance(expected, int) else expected
    with pytest.raises(ValueError, match=re.escape(want)):
        parse_matcher_text(text)


def test_the_table_has_forty_alertmanager_strings_and_more() -> None:
    rows = {text for text, _ in UTF8_PARSER + CLASSIC_PARSER + FALLBACK}
    assert len(rows) >= 40


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("foo=bar,bar=baz", "expected 1 matcher, found 2"),  # parse_test.go, TestMatcher
        ("{}", "expected 1 matcher, found 0"),
        ("", "expected 1 matcher, found 0"),
    ],
)
def test_parse_matcher_wants_exactly_one(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_matcher(text)


def test_one_item_with_several_matchers_contributes_them_all() -> None:
    found = parse_matchers({"matchers": ['{a="1", b=~"2|3"}', "c!=4"]}, "route")
    assert [str(m) for m in found] == ['a="1"', 'b=~"2|3"', 'c!="4"']
    assert all_match(found, {"a": "1", "b": "3", "c": "5"})
    assert not all_match(found, {"a": "1", "b": "4"})


def test_an_error_names_the_item_and_the_column() -> None:
    with pytest.raises(RuleError) as err:
        parse_matchers({"matchers": ["a=1", '{b="2", c}']}, "route")
    assert err.value.where == "route.matchers[1]"
    assert err.value.reason == (
        "'{b=\"2\", c}' is not a matcher: column 10: unexpected }: " + NO_OPERATOR
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("my label", "x"), ("Προμηθεύς", 'say "hi"'), ("a{b}", "c,d"), ("customer.tier", "\\n")],
)
def test_printed_matchers_read_back(name: str, value: str) -> None:
    matcher = Matcher.build(name, Op.EQUAL, value)
    assert parse_matcher(str(matcher)) == matcher


@pytest.mark.parametrize(
    ("literal", "value"),
    [(r'"\a\b\f\n\r\t\v\\\""', '\a\b\f\n\r\t\v\\"'), (r'"\101\x41\u00e9\U0001F642"', "AAé🙂"),
     ('"tab\tkept"', "tab\tkept"), (r'"\xe8\xab\x8b"', "請")],
)  # fmt: skip
def test_quoted_strings_are_go_string_literals(literal: str, value: str) -> None:
    assert go_unquote(literal) == value


@pytest.mark.parametrize(
    "literal", [r'"\'"', r'"\400"', r'"\ud800"', r'"\U00110000"', r'"\x4"', r'"\q"', '"a\nb"',
                r'"\xff"'],
)  # fmt: skip
def test_go_refuses_these_quoted_strings(literal: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each one a different reason
        go_unquote(literal)
