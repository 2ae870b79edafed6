"""The text of one ``matchers:`` item, read by Alertmanager's two grammars.

``utf8_matchers`` is Alertmanager's UTF-8 matcher grammar (matcher/parse,
the default since 0.27): an optional ``{ ... }`` around zero or more
matchers separated by commas, a trailing comma allowed; a label name or
value is either unquoted - any run of characters but whitespace and
``{ } ! = ~ , \\ " ' ```` - or a double-quoted Go string literal
(``\\"``, ``\\\\``, ``\\n``, ``\\t``, ``\\xf0``, ``\\u00e9``, ``\\U0001f642``,
... the result must be UTF-8); whitespace between tokens is ignored. Its
errors are Alertmanager's own words, ``start:end: what: expected what``
(columns counted in characters from 0).

``classic_matchers`` is the grammar of Alertmanager 0.26 and older
(pkg/labels): one ``{`` and one ``}`` stripped if present, the rest split on
commas outside double quotes; each piece is a Prometheus label name
(``[a-zA-Z_:][a-zA-Z0-9_:]*``), an operator and a value, quoted or not, with
only ``\\"``, ``\\\\`` and ``\\n`` as escapes (any other backslash is literal).

Both return ``(name, operator, value)`` triples; which one wins is decided
by the caller (``services.core.matchers``, Alertmanager's fallback mode).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from services.core.errors import HandoffError

Triple = tuple[str, str, str]

# Go's unicode.IsSpace: Latin-1 spaces plus Unicode's White_Space property.
_SPACES = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
_SPACE_CHARS = "".join(sorted(_SPACES))
RESERVED = _SPACES | frozenset("{}!=~,\\\"'`")
_PUNCTUATION = frozenset("{},")
_SIMPLE_ESCAPES = str.maketrans("abfnrtv", "\a\b\f\n\r\t\v")
_GO_PIECE = re.compile(
    r'(?P<text>[^\\\n]+)|\\(?:(?P<simple>[abfnrtv\\"])|(?P<octal>[0-7]{3})'
    r"|x(?P<byte>[0-9A-Fa-f]{2})|u(?P<u4>[0-9A-Fa-f]{4})|U(?P<u8>[0-9A-Fa-f]{8}))"
)
_WORDS = ("quoted", "unquoted")
_NO_OPERATOR = "expected an operator such as '=', '!=', '=~' or '!~'"

_GO_SPACE = "[\t\n\f\r ]"  # RE2's \s
_CLASSIC = re.compile(
    rf"\A{_GO_SPACE}*([a-zA-Z_:][a-zA-Z0-9_:]*){_GO_SPACE}*(=~|=|!=|!~)"
    rf"{_GO_SPACE}*(.*?){_GO_SPACE}*\Z",
    re.DOTALL,
)
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)  # Go's lexer: a backslash skips one
_CLASSIC_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}
_CLASSIC_PIECE = re.compile(r'\\(.)|(")|([^\\"]+|\\)', re.DOTALL)


class MatcherSyntaxError(HandoffError, ValueError):
    """A matcher text the UTF-8 grammar refuses.

    ``str()`` is Alertmanager's message; ``reason`` is it without the span,
    ``column`` where it went wrong, counted from 1.
    """

    def __init__(self, reason: str, column: int, span: str = "") -> None:
        super().__init__(f"{span}{reason}")
        self.reason = reason
        self.column = column
        self.span = span

    def expected(self, what: str) -> MatcherSyntaxError:
        """The same error, with what the parser was looking for."""
        return MatcherSyntaxError(f"{self.reason}: {what}", self.column, self.span)


@dataclass(frozen=True)
class _Token:
    kind: str  # "{", "}", ",", "op", "quoted", "unquoted", "eof"
    text: str
    start: int
    end: int

    def error(self, reason: str) -> MatcherSyntaxError:
        return MatcherSyntaxError(reason, self.start + 1, f"{self.start}:{self.end}: ")


def _lex(text: str) -> Iterator[_Token]:
    """Alertmanager's lexer (matcher/parse/lexer.go); errors surface when reached."""
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in _SPACES:
            pos += 1
            continue
        token = _scan(text, pos, char)
        pos = token.end
        yield token
    yield _Token("eof", "", pos, pos)


def _scan(text: str, pos: int, char: str) -> _Token:
    if char in _PUNCTUATION:
        return _Token(char, char, pos, pos + 1)
    if char in "=!":
        return _operator(text, pos)
    if char == '"':
        return _quoted(text, pos)
    if char not in RESERVED:
        end = pos
        while end < len(text) and text[end] not in RESERVED:
            end += 1
        return _Token("unquoted", text[pos:end], pos, end)
    raise _Token("bad", char, pos, pos + 1).error(f"{char}: invalid input")


def _operator(text: str, pos: int) -> _Token:
    pair = text[pos : pos + 2]
    if pair in ("!=", "!~", "=~"):
        return _Token("op", pair, pos, pos + 2)
    if text[pos] == "=":
        return _Token("op", "=", pos, pos + 1)
    what = "unexpected end of input," if pos + 1 >= len(text) else "!:"
    raise _Token("bad", "!", pos, pos + 1).error(f"{what} expected one of '=~'")


def _quoted(text: str, pos: int) -> _Token:
    found = _QUOTED.match(text, pos)
    if found is None:
        raise _Token("bad", "", pos, len(text)).error(f'{text[pos:]}: missing end "')
    return _Token("quoted", found[0], pos, found.end())


def go_unquote(literal: str) -> str:
    """A double-quoted Go string literal's value (strconv.Unquote); ValueError if invalid."""
    body, out, pos = literal[1:-1], bytearray(), 0
    while pos < len(body):
        piece = _GO_PIECE.match(body, pos)
        if piece is None:
            raise ValueError(f"{body[pos : pos + 2]!r} is not valid in a quoted string")
        out += _go_bytes(piece)
        pos = piece.end()
    return out.decode("utf-8")  # UnicodeDecodeError is a ValueError


def _go_bytes(piece: re.Match[str]) -> bytes:
    kind = piece.lastgroup or ""
    value = piece[kind]
    if kind == "text":
        return value.encode("utf-8", "surrogatepass")
    if kind == "simple":
        return value.translate(_SIMPLE_ESCAPES).encode()
    if kind == "octal" and int(value, 8) > 255:
        raise ValueError(f"\\{value} is over 255")
    if kind in ("octal", "byte"):
        return bytes([int(value, 8 if kind == "octal" else 16)])
    return chr(int(value, 16)).encode("utf-8")  # ValueError past U+10FFFF or a surrogate


class _Parser:
    """Alertmanager's matcher parser (matcher/parse/parse.go), its states as methods."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.ahead: _Token | None = None
        self.consumed_to = 0  # where the last token taken ends
        self.found: list[Triple] = []

    def peek(self, expecting: str = "") -> _Token:
        if self.ahead is None:
            try:
                self.ahead = next(self.tokens)
            except MatcherSyntaxError as exc:
                raise exc.expected(expecting) if expecting else exc from None
        return self.ahead

    def look(self, kinds: tuple[str, ...], expecting: str) -> _Token:
        """The next token, refused unless it is one of ``kinds`` or the end."""
        token = self.peek(expecting)
        if token.kind != "eof" and token.kind not in kinds:
            raise token.error(f"unexpected {token.text}: {expecting}")
        return token

    def take(self, kinds: tuple[str, ...], expecting: str) -> _Token:
        token = self.look(kinds, expecting)
        if token.kind == "eof":
            raise MatcherSyntaxError(f"end of input: {expecting}", token.start + 1)
        self.ahead, self.consumed_to = None, token.end
        return token

    def parse(self) -> list[Triple]:
        opened = self.peek().kind == "{"
        if opened:
            self.take(("{",), "")
        if self.peek().kind not in ("eof", "}"):
            self.matchers()
        self.close(opened)
        self.end()
        return self.found

    def matchers(self) -> None:
        self.matcher()
        while self.look((",", "}"), "expected a comma or close brace").kind == ",":
            self.take((",",), "expected a comma")
            after = self.look(("}", *_WORDS), "expected a matcher or close brace after comma")
            if after.kind in ("eof", "}"):
                return
            self.matcher()

    def matcher(self) -> None:
        name = _value(self.take(_WORDS, "expected label name"))
        op = self.take(("op",), _NO_OPERATOR).text
        self.found.append((name, op, _value(self.take(_WORDS, "expected label value"))))

    def close(self, opened: bool) -> None:
        """Braces come in pairs: ``0:end:`` is how Alertmanager places these two errors."""
        if opened and self.peek().kind != "}":
            end = self.consumed_to
            raise MatcherSyntaxError("end of input: expected close brace", end + 1, f"0:{end}: ")
        if self.peek().kind == "}":
            self.take(("}",), "")
            if not opened:
                end = self.consumed_to
                raise MatcherSyntaxError("}: expected opening brace", end, f"0:{end}: ")

    def end(self) -> None:
        token = self.peek("expected end of input")
        if token.kind != "eof":
            raise token.error(f"{token.text}: expected end of input")


def _value(token: _Token) -> str:
    if token.kind == "unquoted":
        return token.text
    try:
        return go_unquote(token.text)
    except ValueError:
        raise token.error(f"{token.text}: invalid input") from None


def utf8_matchers(text: str) -> list[Triple]:
    """Alertmanager's UTF-8 parser (``parse.Matchers``); MatcherSyntaxError if refused."""
    return _Parser(text).parse()


def classic_matchers(text: str) -> list[Triple]:
    """Alertmanager's classic parser (``labels.ParseMatchers``); ValueError if refused."""
    body = text.removeprefix("{").removesuffix("}")
    return [_classic_matcher(piece) for piece in _classic_pieces(body)]


def _classic_pieces(body: str) -> list[str]:
    """Split on commas outside double quotes; a last piece of only spaces is dropped."""
    pieces: list[str] = []
    current: list[str] = []
    inside = escaped = False
    for char in body:
        if char == "," and not inside:
            pieces.append("".join(current))
            current = []
            continue
        if char == '"':
            inside, escaped = (inside, False) if escaped else (not inside, False)
        elif char == "\\":
            escaped = not escaped
        elif char != ",":
            escaped = False
        current.append(char)
    last = "".join(current).strip(_SPACE_CHARS)
    return [*pieces, last] if last else pieces


def _classic_matcher(piece: str) -> Triple:
    found = _CLASSIC.match(piece)
    if not found:
        raise ValueError(f"bad matcher format: {piece}")
    name, op, raw = found.groups()
    return name, op, _classic_value(raw)


def _classic_value(raw: str) -> str:
    """OpenMetrics escapes; a lone backslash is literal, a quote only closes a quoted value."""
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out, closed = [], not quoted
    for piece in _CLASSIC_PIECE.finditer(body):
        escaped, quote, text = piece.groups()
        if quote is None:
            out.append(text if escaped is None else _CLASSIC_ESCAPES.get(escaped, "\\" + escaped))
        elif closed or piece.end() < len(body):
            raise ValueError(f"matcher value contains unescaped double quote: {raw}")
        else:
            closed = True
    if not closed:
        raise ValueError(f"matcher value contains unescaped double quote: {raw}")
    return "".join(out)
