"""Scenario 6: hostile input; no answer of 500 or more, no request that hangs.

Two parts. The hypothesis fuzzer over every ingest endpoint
(tests/unit/services/ingest/test_ingest_fuzz.py, run with ``HANDOFF_FUZZ_EXAMPLES``
examples). And schemathesis over the API as a process on PostgreSQL (where NUL
and such reach a real database), with an admin token and a few tasks: every
operation on its own, then stateful runs that follow the links of
:mod:`bench.chaos.links` (list tasks -> act on one, create a token -> revoke it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import FlakyStrategyDefinition

from bench.chaos.links import with_links
from bench.chaos.report import Row
from services.api import auth
from services.api.db import TASKS, make_engine, upgrade
from services.kafka_admin import ensure_handoff_topics, ensure_rules_topic
from tests.processes import REPO_ROOT, Service, platform_env, spawn, stop, wait_for, wait_healthy

FUZZER = "tests/unit/services/ingest/test_ingest_fuzz.py"
REQUEST_TIMEOUT_S = 30.0  # an answer slower than this counts as a hang
RUNS = 10  # the stateful chains in this many runs: one ended early does not end the rest


class Outcomes:
    """Every answer's status class; 5xx and hangs are what the scenario must not see."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.hangs = 0
        self.examples: list[str] = []
        self.failures: list[str] = []
        self.cut_short = 0  # stateful runs hypothesis ended early (FlakyStrategyDefinition)

    def record(self, case: Any, status: int) -> None:
        self.statuses[status] += 1
        if status >= 500 and len(self.examples) < 5:
            self.examples.append(f"{case.method} {case.formatted_path} -> {status}")

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def start_ingest_fuzz(examples: int, home: Path) -> subprocess.Popen[bytes] | None:
    """Start the ingest fuzzer with ``examples`` examples in a process of its own.

    It runs while schemathesis works on the API (two cores: the two parts share
    nothing, and neither has a figure that CPU time would change). None (0) leaves it
    to ``make test``, which runs it with its default 300.
    """
    if examples == 0:
        return None
    env = {**os.environ, "HANDOFF_FUZZ_EXAMPLES": str(examples)}
    with (home / "ingest-fuzz.log").open("wb") as log:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", FUZZER],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def finish_ingest_fuzz(fuzzer: subprocess.Popen[bytes] | None, home: Path) -> str | None:
    """Wait for the fuzzer; the end of its report if it failed."""
    if fuzzer is None or fuzzer.wait() == 0:
        return None
    return (home / "ingest-fuzz.log").read_text(errors="replace")[-2000:]


def api_process(bootstrap: str, database_url: str, home: Path) -> tuple[Service, str]:
    """The API (no deliverer; its projector runs, or it follows no rules) with three tasks."""
    upgrade(database_url)
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(TASKS.insert(), [_task(n, now) for n in range(3)])
        token = auth.create_token(engine, team=None, scope="admin", name="chaos", now=now).token
    finally:
        engine.dispose()
    env = platform_env(bootstrap, database_url, home)
    rules = str(REPO_ROOT / "deploy" / "config" / "routing.yaml")  # else /v1/rules answers 503
    env.update(HANDOFF_API_AUTH="required", HANDOFF_API_DELIVERY="false",
               HANDOFF_API_RULES_FILE=rules)  # fmt: skip
    ensure_handoff_topics(bootstrap, [], partitions=4)
    ensure_rules_topic(bootstrap)
    service = spawn("api", f"http://127.0.0.1:{env['HANDOFF_API_PORT']}", env, home, "api-fuzz")
    wait_healthy(service)
    wait_for("the API's rule set (503 until its rules feed caught up)",
             lambda: _rules_known(service.url, token), timeout=90)  # fmt: skip
    return service, token


def _rules_known(url: str, token: str) -> bool:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(url + "/v1/rules", headers=headers, timeout=5).status_code == 200


def _task(n: int, now: datetime) -> dict[str, Any]:
    return {
        "task_id": f"chaos-fuzz-{n}", "source_event_id": f"chaos-fuzz-e{n}",
        "source": "/sources/support", "team": "support-triage", "rule": "chaos",
        "account": "example.co.jp", "priority": "high", "component": "billing-ui",
        "subject": "請求書", "description": "", "requester_email": "taro@example.co.jp",
        "state": "open", "raised_at": now, "routed_at": now, "sla_due": now, "projected_at": now,
        "version": 1, "updated_at": now,
    }  # fmt: skip


def api_schema(url: str, token: str) -> Any:
    document = with_links(httpx.get(url + "/openapi.json", timeout=30).json())
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=url, headers={"Authorization": f"Bearer {token}"},
                         request_timeout=REQUEST_TIMEOUT_S)  # fmt: skip
    return schema


def call(case: Any, outcomes: Outcomes) -> Any:
    try:
        response = case.call()
    except requests.Timeout:
        outcomes.hangs += 1
        return None
    outcomes.record(case, response.status_code)
    return response


def each_operation(schema: Any, examples: int, outcomes: Outcomes) -> None:
    """Every operation on its own, ``examples`` generated cases each."""
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/metrics":
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def check(case: Any) -> None:
            call(case, outcomes)

        try:
            check()
        except Exception as exc:  # an operation that fails otherwise is a finding too
            outcomes.failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:300]}")


def stateful(schema: Any, scenarios: int, outcomes: Outcomes) -> None:
    """Chains of calls that follow the links; each answer recorded, none checked further."""
    machine = schema.as_state_machine()

    class Machine(machine):  # type: ignore[misc, valid-type]
        def call(self, case: Any, **kwargs: Any) -> Any:
            response = call(case, outcomes)
            if response is None:
                raise requests.Timeout(f"{case.method} {case.formatted_path} hung")
            return response

        def validate_response(self, response: Any, case: Any, *args: Any, **kw: Any) -> None:
            return None

    # no shrinking: a live server's state differs on every replay (hypothesis calls that flaky)
    runs = max(1, min(RUNS, scenarios))
    budget = settings(max_examples=-(-scenarios // runs), deadline=None, database=None,
                      phases=[Phase.generate], stateful_step_count=8,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
    for _ in range(runs):
        try:
            Machine.run(settings=budget)
        except FlakyStrategyDefinition:
            # hypothesis replays a prefix of earlier chains while it generates; the links
            # draw from the live server's answers, so a replay may draw otherwise. That
            # ends this run early (what was sent is counted and checked), not the scenario.
            outcomes.cut_short += 1
        except Exception as exc:  # a failed chain is a finding: kept with the row
            outcomes.failures.append(f"stateful: {type(exc).__name__}: {str(exc)[:300]}")


def run(bootstrap: str, database_url: str, home: Path, *, ingest_examples: int = 20_000,
        api_examples: int = 100, scenarios: int = 300) -> Row:  # fmt: skip
    """Both parts; ``sent`` counts the ingest examples and every API call made."""
    row = Row("6 hostile input (fuzz + schemathesis)")
    fuzzer = start_ingest_fuzz(ingest_examples, home)
    outcomes = Outcomes()
    try:
        service, token = api_process(bootstrap, database_url, home)
        try:
            schema = api_schema(service.url, token)
            each_operation(schema, api_examples, outcomes)
            stateful(schema, scenarios, outcomes)
        finally:
            stop(service.proc)
    finally:
        failure = finish_ingest_fuzz(fuzzer, home)
    if failure:
        row.problems.append(f"ingest fuzzer: {failure[-500:]}")
    _count(row, ingest_examples, outcomes)
    return row


def _count(row: Row, fuzzed: int, outcomes: Outcomes) -> None:
    calls = sum(outcomes.statuses.values())
    row.sent = fuzzed + calls
    row.accepted = sum(n for status, n in outcomes.statuses.items() if status < 300)
    row.notes.append(f"ingest {fuzzed} examples, API {calls} calls: "
                     f"{outcomes.server_errors} >=500, {outcomes.hangs} hangs")  # fmt: skip
    if outcomes.cut_short:
        row.notes.append(f"{outcomes.cut_short} stateful runs ended early by hypothesis "
                         "(links draw from live answers)")  # fmt: skip
    if outcomes.server_errors or outcomes.hangs:
        row.problems.append(f"API: {outcomes.examples}, {outcomes.hangs} hangs")
    row.problems.extend(outcomes.failures)
