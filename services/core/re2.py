"""Alertmanager's regexes (Go's RE2 syntax) compiled with Python's ``re``.

Alertmanager compiles a matcher's regex as ``^(?:value)$`` with Go's
regexp package. ``compile_anchored`` does the same with ``re`` after
translating what RE2 writes differently: ``\\d``, ``\\w``, ``\\s``, ``\\b``
are ASCII-only, ``$`` is the end of the text (not before a last newline),
``(?i)`` in mid-pattern applies to the rest of its group, ``[[:alpha:]]``,
``\\x{1F642}``, ``\\Q...\\E``, ``\\z`` and ``(?<name>...)``. What RE2 refuses and
``re`` would accept (lookarounds, backreferences, atomic groups, possessive
quantifiers, ``\\Z``, ``\\u``, counts over 1000) is refused. Not supported,
though RE2 has them: ``\\p{...}`` Unicode classes, the ``U`` (ungreedy) flag,
``\\D``/``\\S``/``\\W`` inside ``[...]`` and ``(?i)`` in mid-group before a ``|``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

_ASCII = {
    "d": "[0-9]", "D": "[^0-9]", "w": "[0-9A-Za-z_]", "W": "[^0-9A-Za-z_]",
    "s": "[\\t\\n\\f\\r ]", "S": "[^\\t\\n\\f\\r ]", "z": "\\Z",
    "b": "(?:(?<=[0-9A-Za-z_])(?![0-9A-Za-z_])|(?<![0-9A-Za-z_])(?=[0-9A-Za-z_]))",
    "B": "(?:(?<=[0-9A-Za-z_])(?=[0-9A-Za-z_])|(?<![0-9A-Za-z_])(?![0-9A-Za-z_]))",
}  # fmt: skip
_IN_CLASS = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z",
    "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}  # fmt: skip
_NOT_RE2 = frozenset("123456789ZuUNG")  # escapes re knows and RE2 refuses
_UNSUPPORTED = frozenset("pP")  # RE2's Unicode classes: re has none
_NOT_IN_CLASS = frozenset("DSWbBAz")
_TOKEN = re.compile(
    r"\\Q.*?(?:\\E|\Z)|\\x\{[0-9A-Fa-f]+\}|\\[pP]\{\w+\}|\\."
    r"|\(\?P?<\w+>|\(\?[A-Za-z-]*[:)]|\(\?.?|\{\d+(?:,\d*)?\}\+?|.",
    re.DOTALL,
)
_REPEAT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_GROUP = re.compile(r"\(\?(?:P?<\w+>|[ims]*(?:-[ims]*)?:)\Z")
_FLAGS = re.compile(r"\(\?([ims]*(?:-[ims]*)?)\)\Z")
_POSSESSIVE = ("*+", "++", "?+")


@dataclass
class _Level:
    """One open group: scoped flag groups to close with it, and what came first."""

    extra: int = 0
    started: bool = False
    no_bar: bool = False


@dataclass
class _Translation:
    out: list[str] = field(default_factory=list)
    levels: list[_Level] = field(default_factory=lambda: [_Level()])
    multiline: bool = False

    def token(self, text: str) -> None:
        if text.startswith("("):
            self.group(text)
        elif text == ")" and len(self.levels) > 1:
            self.out.append(")" * (self.levels.pop().extra + 1))
        else:
            self.atom(text)

    def group(self, text: str) -> None:
        flags = _FLAGS.match(text)
        if flags:
            self.scoped(flags[1])
            return
        if text != "(" and not _GROUP.match(text):
            raise ValueError(f"{text}...: a group or flag RE2 (or handoff) does not have")
        self.multiline |= "m" in text.split("-")[0]
        self.put(text.replace("(?<", "(?P<"))
        self.levels.append(_Level())

    def scoped(self, flags: str) -> None:
        """``(?i)``: from here to the end of its group, as ``(?i:...)``."""
        self.multiline |= "m" in flags.split("-")[0]
        level = self.levels[-1]
        level.no_bar |= level.started
        level.extra += 1
        self.out.append(f"(?{flags}:")

    def atom(self, text: str) -> None:
        if text == "|" and self.levels[-1].no_bar:
            raise ValueError("(?flags) in mid-group before a '|' is not supported")
        self.put(_atom(text, self.multiline))

    def put(self, text: str) -> None:
        self.levels[-1].started = True
        self.out.append(text)

    def result(self) -> str:
        return "".join(self.out) + ")" * self.levels[0].extra


def _atom(text: str, multiline: bool) -> str:
    if text == "$":
        return "$" if multiline else "\\Z"
    if text in ("[", "{"):
        return _lone(text)
    if text.startswith("\\Q"):
        return re.escape(text[2:].removesuffix("\\E"))
    if text.startswith("\\x{"):
        return re.escape(chr(int(text[3:-1], 16)))
    if text.startswith("\\"):
        return _escape(text)
    if text.endswith("+") and (text.startswith("{") or text in _POSSESSIVE):
        raise ValueError(f"{text}: possessive repetition is not RE2 syntax")
    _check_repeat(text)
    return text


def _lone(text: str) -> str:
    if text == "[":
        raise ValueError("missing closing ]")
    return "\\{"  # RE2 reads '{' that starts no 'n}', 'n,}' or 'n,m}' as a literal


def _escape(text: str) -> str:
    char = text[1]
    if char in _UNSUPPORTED:
        raise ValueError(f"{text}: Unicode classes are RE2 syntax handoff does not support")
    if char in _NOT_RE2 or len(text) > 2:
        raise ValueError(f"{text}: not RE2 syntax")
    return _ASCII.get(char, text)


def _check_repeat(text: str) -> None:
    found = _REPEAT.fullmatch(text)
    if found and max(int(n) for n in found.groups("0") if n) > 1000:
        raise ValueError(f"{text}: RE2 allows at most 1000 repetitions")


_CLASS = re.compile(r"\[\^?\]?(?:\[:\^?\w+:\]|\\.|[^\]])*\]", re.DOTALL)
_CLASS_PART = re.compile(r"\[:(\^?)(\w+):\]|\\(.)|(.)", re.DOTALL)


def _class(text: str) -> str:
    """An RE2 ``[...]`` as a Python one: POSIX names, ASCII ``\\d``, literal ``[``."""
    head = "[^" if text.startswith("[^") else "["
    parts = _CLASS_PART.finditer(text, len(head), len(text) - 1)
    return head + "".join(_class_part(part) for part in parts) + "]"


def _class_part(part: re.Match[str]) -> str:
    negated, posix, escaped, char = part.groups()
    if posix is not None:
        if negated or posix not in _POSIX:
            raise ValueError(f"[:{negated}{posix}:] is not supported")
        return _POSIX[posix]
    if escaped is not None:
        if escaped in _NOT_IN_CLASS or escaped in _NOT_RE2 or escaped in _UNSUPPORTED:
            raise ValueError(f"\\{escaped} inside [...] is not supported")
        return _IN_CLASS.get(escaped, "\\" + escaped)
    return "\\" + char if char in "[&~|" else char


def translate(pattern: str) -> str:
    """The Python ``re`` pattern that matches what RE2 would; ValueError if unsupported."""
    work = _Translation()
    pos = 0
    while pos < len(pattern):
        klass = _CLASS.match(pattern, pos) if pattern[pos] == "[" else None
        if klass:
            work.put(_class(klass[0]))
            pos = klass.end()
            continue
        token = _TOKEN.match(pattern, pos)
        assert token is not None  # '.' with DOTALL matches any character
        text = token[0]
        if text in ("*", "+", "?") and pattern.startswith("+", token.end()):
            text += "+"
        work.token(text)
        pos += len(text)
    return work.result()


def compile_anchored(pattern: str) -> re.Pattern[str]:
    """Alertmanager's ``^(?:pattern)$``; ValueError with the reason if it cannot be."""
    try:
        translated = translate(pattern)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return re.compile(f"\\A(?:{translated})\\Z")
    except (re.error, ValueError, FutureWarning) as exc:
        raise ValueError(f"bad regex {pattern!r}: {exc}") from None
