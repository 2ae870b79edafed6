"""`handoff tokens ...` and the tracker's issue shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schemas.events import TaskRouted
from services.api import auth
from services.api.db import make_engine
from services.api.tracker import issue_body
from services.cli import app
from services.rules import routes_cli

EXAMPLE = Path(__file__).resolve().parents[4] / "deploy" / "config" / "routing.yaml"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("HANDOFF_DATABASE_URL", url)
    monkeypatch.setenv("HANDOFF_API_RULES_FILE", str(EXAMPLE))
    monkeypatch.setattr(routes_cli, "published_rule_set", lambda *_: None)  # no broker
    return url


def test_tokens_create_prints_a_working_token_once(env: str) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["tokens", "create", "--team", "billing", "--scope", "write"])
    assert result.exit_code == 0, result.output
    token = next(line for line in result.stdout.splitlines() if line.startswith("hf_"))
    engine = make_engine(env)
    try:
        principal = auth.authenticate(engine, token)
    finally:
        engine.dispose()
    assert principal is not None
    assert (principal.team, principal.scope) == ("billing", "write")
    listed = runner.invoke(app, ["tokens", "list"])
    assert "billing" in listed.stdout
    assert token not in listed.stdout


def test_admin_tokens_and_bad_input(env: str) -> None:
    runner = CliRunner()
    admin = runner.invoke(app, ["tokens", "create", "--admin"])
    assert admin.exit_code == 0, admin.output
    assert "(admin" in admin.stderr
    # stdout is the token alone, so TOKEN=$(handoff tokens create ...) works.
    assert admin.stdout.startswith("hf_")
    assert len(admin.stdout.splitlines()) == 1
    assert runner.invoke(app, ["tokens", "create"]).exit_code == 2
    assert runner.invoke(app, ["tokens", "create", "--team", "Bad Team"]).exit_code == 2
    assert runner.invoke(app, ["tokens", "create", "--team", "a", "--scope", "root"]).exit_code == 2
    assert runner.invoke(app, ["tokens", "revoke", "0000000000000000"]).exit_code == 1


def test_tokens_create_refuses_an_unknown_team_listing_the_known_ones(env: str) -> None:
    result = CliRunner().invoke(app, ["tokens", "create", "--team", "billing-ui"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "error: no token created: 'billing-ui' is not a team of the routing rules" in (
        result.stderr
    )
    assert "use one of analytics, billing, eng-oncall, identity, marketing," in result.stderr
    assert not Path(env.removeprefix("sqlite:///")).exists()  # refused before the database


def test_tokens_create_checks_the_team_against_the_given_rule_file(
    env: str, tmp_path: Path
) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("teams: {billing-ui: {}}\nroute: {team: billing-ui}\n")
    runner = CliRunner()
    known = runner.invoke(app, ["tokens", "create", "--team", "billing-ui", "--rules", str(rules)])
    assert known.exit_code == 0, known.output
    assert f"rules: {rules} version" in known.stderr
    unknown = runner.invoke(app, ["tokens", "create", "--team", "billing", "--rules", str(rules)])
    assert unknown.exit_code == 2
    assert "use one of billing-ui" in unknown.stderr


def test_issue_body_is_github_issue_like() -> None:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    task = TaskRouted.model_validate(
        {
            "task_id": "t-1",
            "source_event_id": "e-1",
            "source": "/sources/support",
            "team": "billing-ui",
            "rule": "component:billing-ui",
            "account": "example.co.jp",
            "priority": "high",
            "component": "billing-ui",
            "subject": "請求書",
            "description": "ボタン",
            "requester_email": "taro@example.co.jp",
            "raised_at": at,
            "routed_at": at,
            "sla_due": at + timedelta(hours=1),
        }
    )
    issue = issue_body(task)
    assert issue["title"] == "請求書"
    assert issue["labels"] == ["handoff", "priority:high", "component:billing-ui"]
    assert issue["body"].startswith("ボタン")
    assert "t-1" in issue["body"]
    assert issue["due_on"] == "2026-03-02"
    assert (issue["action"], issue["external_id"]) == ("opened", "t-1")
