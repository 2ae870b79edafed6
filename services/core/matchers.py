"""Alertmanager's label matchers: ``=``, ``!=``, ``=~``, ``!~``.

Regexes are fully anchored; a label that is absent matches as the empty
string. Values may be double-quoted (with ``\\"``, ``\\\\`` and ``\\n``
escapes) or bare, as in Alertmanager's configuration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from services.core.errors import RuleError

Labels = Mapping[str, str]

_NAME = r"[A-Za-z_][A-Za-z0-9_.\-]*"
_MATCHER = re.compile(
    rf"^\s*(?P<name>{_NAME})\s*(?P<op>=~|!~|!=|=)\s*(?P<value>\"(?:[^\"\\]|\\.)*\"|[^\"]*?)\s*$"
)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n"}


class Op(Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(cls, name: str, op: Op, value: str) -> Matcher:
        """A matcher; a regex is compiled (anchored) now, so matching never fails."""
        regex = None
        if op in (Op.REGEX, Op.NOT_REGEX):
            try:
                regex = re.compile(f"(?:{value})")
            except re.error as exc:
                raise ValueError(f"bad regex {value!r}: {exc}") from None
        return cls(name, op, value, regex)

    def matches(self, labels: Labels) -> bool:
        actual = labels.get(self.name, "")
        if self.op is Op.EQUAL:
            return actual == self.value
        if self.op is Op.NOT_EQUAL:
            return actual != self.value
        assert self._regex is not None
        # fullmatch, not ^...$: '$' would also match before a trailing newline,
        # which Alertmanager's anchored RE2 regexes do not.
        found = self._regex.fullmatch(actual) is not None
        return found if self.op is Op.REGEX else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op.value}"{escaped}"'


def parse_matcher(text: str) -> Matcher:
    """``'priority=~"urgent|high"'`` -> Matcher; ValueError with the reason otherwise."""
    found = _MATCHER.match(text)
    if not found:
        raise ValueError(f'{text!r} is not a matcher like name="value" (=, !=, =~, !~)')
    raw = found["value"]
    value = _unquote(raw) if raw.startswith('"') else raw
    return Matcher.build(found["name"], Op(found["op"]), value)


def parse_matchers(doc: Mapping[str, Any], where: str) -> tuple[Matcher, ...]:
    """A route's or an ownership entry's ``matchers:``, ``match:`` and ``match_re:``."""
    out: list[Matcher] = []
    listed = doc.get("matchers") or []
    if not isinstance(listed, list):
        raise RuleError(f"{where}.matchers", "must be a list of strings like 'name=\"value\"'")
    for n, text in enumerate(listed):
        if not isinstance(text, str):
            raise RuleError(f"{where}.matchers[{n}]", f"{text!r} is not a string")
        try:
            out.append(parse_matcher(text))
        except ValueError as exc:
            raise RuleError(f"{where}.matchers[{n}]", str(exc)) from None
    for key, op in (("match", Op.EQUAL), ("match_re", Op.REGEX)):
        legacy = doc.get(key) or {}
        if not isinstance(legacy, Mapping):
            raise RuleError(f"{where}.{key}", "must map label name -> value")
        for name, value in legacy.items():
            try:
                out.append(Matcher.build(str(name), op, str(value)))
            except ValueError as exc:
                raise RuleError(f"{where}.{key}.{name}", str(exc)) from None
    return tuple(out)


def all_match(matchers: Iterable[Matcher], labels: Labels) -> bool:
    return all(m.matches(labels) for m in matchers)


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    out: list[str] = []
    chars = iter(body)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
        else:
            out.append(char)
    return "".join(out)
