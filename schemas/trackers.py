"""The way back from a team tracker: what an engineer did to a task's issue (issue 14).

Ingest turns a tracker's verified webhook (Jira, GitHub, Backlog) into one
``tracker.issue_changed`` event on ``handoff.tracker``, keyed by the task id;
``handoff tracker apply`` applies it to the task through the API's lifecycle
(resolve, reject, reopen, a public comment to the origin, or a note kept as the
answer a later close without words will use).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

TRACKER_CHANGED: Final = "tracker.issue_changed"
TrackerAction = Literal["resolve", "reject", "reopen", "comment", "note"]


class TrackerChange(BaseModel):
    """One change of a task's issue, said in handoff's lifecycle terms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tracker: Literal["jira", "github", "backlog"]
    issue: str = Field(max_length=256, description="The issue's key: BILL-12, acme/billing#3")
    task_id: str = Field(min_length=1, max_length=128)
    action: TrackerAction
    message: str = Field(default="", max_length=20_000)
    actor: str | None = Field(default=None, max_length=256)
    at: AwareDatetime
