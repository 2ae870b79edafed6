"""The domain: standard library only, no I/O, no clock, no environment.

Lives here: the rule tree and its matchers, ownership, SLA clocks and business
calendars, identity resolution, grouping keys, capacity, latency statistics,
backoff schedules and handoff's root errors (``errors``). Every state change is
a pure function of (old state, event, now).

May import: the standard library only; never ``schemas``, another ``services``
package, or kafka, faust, fastapi, sqlalchemy, pydantic, yaml, prometheus_client
(an import-linter contract in ``pyproject.toml``).
"""
