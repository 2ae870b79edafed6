"""Alertmanager's label matchers: ``=``, ``!=``, ``=~``, ``!~``.

A ``matchers:`` item is read as Alertmanager 0.27 and later read it by
default, in *fallback mode* (docs/configuration.md, "Label matchers"): by
the classic grammar of 0.26 when that accepts the text, else by the UTF-8
grammar (``services.core.matcher_syntax`` has both). So ``{a="x", b=~"y|z"}``,
``a="x",b!=y,``, ``"label with spaces"="Προμηθεύς"`` and ``a=~"\\d+"`` all
load; one item may hold several matchers, all of which must match. A text
neither grammar accepts is refused with the UTF-8 grammar's reason and
column (Alertmanager reports the classic one's, without a column); its
strict UTF-8 mode is not offered. ``match:`` and ``match_re:`` are
Alertmanager's deprecated maps, read as ``=`` and ``=~``; unlike Alertmanager,
their keys may be any label name (handoff's have dots: ``customer.tier``).

Regexes are anchored as Alertmanager anchors them, ``^(?:value)$``, in its
RE2 dialect (``services.core.re2``); an invalid one is refused at load, so
matching never fails. A label that is absent matches as the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from services.core.errors import RuleError
from services.core.matcher_syntax import (
    RESERVED,
    MatcherSyntaxError,
    Triple,
    classic_matchers,
    utf8_matchers,
)
from services.core.re2 import compile_anchored

Labels = Mapping[str, str]


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
        regex = compile_anchored(value) if op in (Op.REGEX, Op.NOT_REGEX) else None
        return cls(name, op, value, regex)

    def matches(self, labels: Labels) -> bool:
        actual = labels.get(self.name, "")
        if self.op is Op.EQUAL:
            return actual == self.value
        if self.op is Op.NOT_EQUAL:
            return actual != self.value
        assert self._regex is not None
        # \A(?:...)\Z, searched: Alertmanager's ^(?:...)$ in RE2, where '$' is the
        # end of the text (Python's '$' would also match before a last newline).
        found = self._regex.search(actual) is not None
        return found if self.op is Op.REGEX else not found

    def __str__(self) -> str:
        name = self.name if _bare(self.name) else _quote(self.name)
        return f"{name}{self.op.value}{_quote(self.value)}"


def parse_matcher(text: str) -> Matcher:
    """One matcher, ``'priority=~"urgent|high"'``; ValueError with the reason otherwise."""
    found = parse_matcher_text(text)
    if len(found) != 1:
        raise ValueError(f"{text!r} is not a matcher: expected 1 matcher, found {len(found)}")
    return found[0]


def parse_matcher_text(text: str) -> tuple[Matcher, ...]:
    """A ``matchers:`` item, all its matchers (Alertmanager's fallback mode)."""
    try:
        return _built(classic_matchers(text))
    except ValueError:
        pass
    try:
        return _built(utf8_matchers(text))
    except MatcherSyntaxError as exc:
        raise ValueError(f"{text!r} is not a matcher: column {exc.column}: {exc.reason}") from None


def _built(triples: list[Triple]) -> tuple[Matcher, ...]:
    return tuple(Matcher.build(name, Op(op), value) for name, op, value in triples)


def parse_matchers(doc: Mapping[str, Any], where: str) -> tuple[Matcher, ...]:
    """A route's or an ownership entry's ``matchers:``, ``match:`` and ``match_re:``."""
    out = list(_listed(doc.get("matchers") or [], f"{where}.matchers"))
    for key, op in (("match", Op.EQUAL), ("match_re", Op.REGEX)):
        out.extend(_legacy(doc.get(key) or {}, op, f"{where}.{key}"))
    return tuple(out)


def _listed(listed: object, where: str) -> Iterator[Matcher]:
    if not isinstance(listed, list):
        raise RuleError(where, "must be a list of strings like 'name=\"value\"'")
    for n, text in enumerate(listed):
        if not isinstance(text, str):
            raise RuleError(f"{where}[{n}]", f"{text!r} is not a string")
        try:
            yield from parse_matcher_text(text)
        except ValueError as exc:
            raise RuleError(f"{where}[{n}]", str(exc)) from None


def _legacy(legacy: object, op: Op, where: str) -> Iterator[Matcher]:
    if not isinstance(legacy, Mapping):
        raise RuleError(where, "must map label name -> value")
    for name, value in legacy.items():
        try:
            yield Matcher.build(str(name), op, str(value))
        except ValueError as exc:
            raise RuleError(f"{where}.{name}", str(exc)) from None


def all_match(matchers: Iterable[Matcher], labels: Labels) -> bool:
    return all(m.matches(labels) for m in matchers)


def _bare(name: str) -> bool:
    return bool(name) and not any(char in RESERVED for char in name)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
