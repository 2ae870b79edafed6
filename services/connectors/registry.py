"""Build a team's connectors from their configuration and the environment.

Adding a vendor: write its module (a class with ``create/find/comment/update``
or ``post``), add one builder below and its keys in ``config.TRACKERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from services.connectors.backlog import BacklogTracker
from services.connectors.base import Chat, Tracker
from services.connectors.config import ConnectorSpec
from services.connectors.github import GitHubTracker, github_headers
from services.connectors.http import VendorHttp
from services.connectors.jira import JiraTracker, basic_auth, bearer_auth
from services.connectors.slack import SlackChat
from services.connectors.teams import TeamsChat
from services.connectors.webhook import WebhookTracker

Env = Mapping[str, str]


class MissingSecretError(Exception):
    """A connector names an environment variable that is not set."""


def secret(spec: ConnectorSpec, key: str, env: Env) -> str:
    name = spec.options[key]
    value = env.get(name)
    if not value:
        raise MissingSecretError(f"the {spec.kind} connector needs ${name} ({key}); it is not set")
    return value


def _jira_cloud(spec: ConnectorSpec, env: Env) -> Tracker:
    headers = basic_auth(secret(spec, "user_env", env), secret(spec, "token_env", env))
    return _jira(spec, headers, api=3)


def _jira_server(spec: ConnectorSpec, env: Env) -> Tracker:
    return _jira(spec, bearer_auth(secret(spec, "token_env", env)), api=2)


def _jira(spec: ConnectorSpec, headers: dict[str, str], *, api: int) -> Tracker:
    http = VendorHttp(spec.options["url"], headers)
    issue_type = spec.options.get("issue_type", "Task")
    return JiraTracker(http, project=spec.options["project"], issue_type=issue_type, api=api)


def _github(spec: ConnectorSpec, env: Env) -> Tracker:
    url = spec.options.get("url", "https://api.github.com")
    http = VendorHttp(url, github_headers(secret(spec, "token_env", env)))
    return GitHubTracker(http, repository=spec.options["repository"])


def _backlog(spec: ConnectorSpec, env: Env) -> Tracker:
    params = {"apiKey": secret(spec, "api_key_env", env)}
    http = VendorHttp(spec.options["url"], {"Accept": "application/json"}, params)
    project, issue_type = int(spec.options["project_id"]), int(spec.options["issue_type_id"])
    return BacklogTracker(http, project_id=project, issue_type_id=issue_type)


def _webhook(spec: ConnectorSpec, env: Env) -> Tracker:
    headers: dict[str, str] = {}
    if "auth_env" in spec.options:
        scheme = spec.options.get("auth_scheme", "Bearer")
        headers["Authorization"] = f"{scheme} {secret(spec, 'auth_env', env)}".strip()
    return WebhookTracker(VendorHttp(spec.options["url"], headers))


TRACKER_BUILDERS: dict[str, Callable[[ConnectorSpec, Env], Tracker]] = {
    "jira-cloud": _jira_cloud,
    "jira-server": _jira_server,
    "github": _github,
    "backlog": _backlog,
    "webhook": _webhook,
}


def build_tracker(spec: ConnectorSpec, env: Env) -> Tracker:
    return TRACKER_BUILDERS[spec.kind](spec, env)


def build_chat(spec: ConnectorSpec, env: Env) -> Chat:
    http = VendorHttp(secret(spec, "url_env", env), {})
    return SlackChat(http) if spec.kind == "slack" else TeamsChat(http)
