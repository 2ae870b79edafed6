"""The routing rules as a YAML file: read, validate once, version by content."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from services.core.errors import RuleError
from services.core.rules import RuleSet, load_rules


def read_rules(path: Path | str) -> RuleSet:
    """Parse and validate the rule file; any problem is a RuleError naming the file.

    The version is a short sha256 of the file's bytes, so every worker reading
    the same file reports the same version.
    """
    where = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RuleError(where, f"cannot read the rule file: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise RuleError(_yaml_where(where, exc), f"invalid YAML: {_yaml_problem(exc)}") from None
    return load_rules(doc, where=where, version=hashlib.sha256(raw).hexdigest()[:12])


def _yaml_where(where: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return where
    return f"{where}:{mark.line + 1}:{mark.column + 1}"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem:
        return f"{context}, {problem}" if context else str(problem)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
