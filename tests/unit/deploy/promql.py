"""The metric names a PromQL expression reads, and the names handoff's services export.

Not a PromQL parser: it drops what cannot be a metric name (strings, label
matchers, ``by (...)`` lists, ranges, Grafana variables, numbers, function
calls, keywords) and keeps the identifiers that remain.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
     "bool", "offset", "inf", "nan", "atan2"}
)  # fmt: skip
# Series Prometheus makes itself for every target: not exported by a service.
SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_RANGE = re.compile(r"\[[^\[\]]*\]")
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric (and recorded rule) names ``expr`` selects."""
    text = _STRING.sub(" ", expr)
    text = _VARIABLE.sub("1", text)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    found = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call is None and name.lower() not in KEYWORDS:
            found.add(name)
    return found


def label_values_metric(query: str) -> set[str]:
    """The metric a Grafana ``label_values(metric, label)`` variable query reads."""
    match = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
    return metric_names(match.group(1)) if match else metric_names(query)


def _samples(family: Metric) -> Iterator[str]:
    """The sample names a family is exposed under (the text format's suffix conventions)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("_count", "_sum", "_created"),
        "info": ("_info",),
        "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    }.get(family.type, ("",))
    for suffix in suffixes:
        yield family.name + suffix


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name the registry's collectors describe, without collecting values."""
    names: set[str] = set()
    collectors: Any = registry._collector_to_names  # described at registration
    for collector in collectors:
        describe = getattr(collector, "describe", None) or collector.collect
        for family in describe():
            names.update(_samples(family))
    return names
