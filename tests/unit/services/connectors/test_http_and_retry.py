"""Vendor answers said as errors (rate limits as documented), and the retry schedule."""

from __future__ import annotations

import httpx
import pytest

from services.connectors.base import ConnectorError, IssueDraft, IssueRef
from services.connectors.http import refusal, retry_after
from services.connectors.retry import GaveUpError, ensure_issue, with_retries
from services.core.backoff import BackoffPolicy

POLICY = BackoffPolicy(1.0, 8.0)


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "wait"),
    [
        (429, {"Retry-After": "7"}, True, 7.0),  # Jira, GitHub, Slack
        (403, {"retry-after": "60"}, True, 60.0),  # GitHub's secondary rate limit
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1000030"}, True, 30.0),
        (403, {}, False, None),  # a real permission problem
        (503, {}, True, None),
        (400, {}, False, None),
        (404, {}, False, None),
    ],
)
def test_refusals_say_whether_and_when_to_retry(
    status: int, headers: dict[str, str], retryable: bool, wait: float | None
) -> None:
    response = httpx.Response(status, headers=headers, text="nope")
    if "x-ratelimit-reset" in headers:
        assert retry_after(response.headers, now=1_000_000.0) == wait
        return
    error = refusal("POST", "/rest/api/3/issue", response)
    assert (error.retryable, error.retry_after_s) == (retryable, wait)
    assert error.reason.startswith(f"POST /rest/api/3/issue: HTTP {status}")


def test_with_retries_waits_the_longer_of_the_vendor_and_the_backoff_then_gives_up() -> None:
    sleeps: list[float] = []
    waits = iter(
        [
            ConnectorError("limited", retryable=True, retry_after_s=5.0),
            ConnectorError("busy", retryable=True),
            ConnectorError("busy", retryable=True),
        ]
    )

    def call(_attempt: int) -> str:
        raise next(waits)

    with pytest.raises(GaveUpError) as gave_up:
        with_retries(call, attempts=3, policy=POLICY, sleep=sleeps.append)
    assert sleeps == [5.0, 2.0]
    assert gave_up.value.reason == "busy (after 3 attempt(s))"


def test_a_refusal_for_good_is_not_retried() -> None:
    sleeps: list[float] = []

    def call(_attempt: int) -> str:
        raise ConnectorError("HTTP 400 summary is required", retryable=False)

    with pytest.raises(GaveUpError, match="after 1 attempt"):
        with_retries(call, attempts=5, policy=POLICY, sleep=sleeps.append)
    assert sleeps == []


class FakeTracker:
    """Fails the first create after storing it (a 5xx after the write)."""

    kind = "fake"

    def __init__(self) -> None:
        self.issues: list[str] = []

    def create(self, draft: IssueDraft) -> IssueRef:
        self.issues.append(draft.task_id)
        if len(self.issues) == 1:
            raise ConnectorError("HTTP 502", retryable=True)
        return IssueRef(str(len(self.issues)))

    def find(self, task_id: str) -> IssueRef | None:
        return IssueRef("1") if task_id in self.issues else None

    def comment(self, issue: IssueRef, text: str) -> None: ...

    def update(self, issue: IssueRef, draft: IssueDraft) -> None: ...


def test_an_ambiguous_create_is_looked_up_not_repeated() -> None:
    tracker = FakeTracker()
    draft = IssueDraft("t-1", "title", "body", "high")
    issue = ensure_issue(
        tracker, draft, look_first=False, attempts=3, policy=POLICY, sleep=lambda _: None
    )
    assert issue == IssueRef("1")
    assert tracker.issues == ["t-1"]
