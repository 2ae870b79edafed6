from __future__ import annotations

import pytest

from services.rules.yaml_lines import line_of

DOC = """\
teams:
  billing: {department: engineering}
  support-l2:
    department: support
route:
  team: triage
  routes:
    - matchers: ['type="support.ticket"']
      team: billing
    - match:
        customer.tier: gold
      matchers:
        - 'priority=~"urgent|high"'
        - 'component=~"("'
      team: support-l2
calendars:
  jp-business:
    hours: ["09:00-12:00", "13:00-18:00"]
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("teams.billing", 2),
        ("teams.support-l2.department", 4),
        ("route", 5),
        ("route.routes[0]", 8),
        ("route.routes[1].matchers[1]", 14),
        ("route.routes[1].match.customer.tier", 11),  # a key with a dot in it
        ("route.routes[1].team", 15),
        ("calendars.jp-business.hours[1]", 18),
        ("route.routes[7]", 7),  # no such child: the deepest ancestor found
        ("nowhere.at.all", 1),
    ],
)
def test_line_of_path(path: str, line: int) -> None:
    assert line_of(DOC, path) == line


def test_unparsable_or_empty_text_has_no_line() -> None:
    assert line_of("a: [", "a") is None
    assert line_of("", "a") is None
