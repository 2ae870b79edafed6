"""What the API says about teams: each team's backlog and SLA standing."""

from datetime import datetime

from pydantic import BaseModel, Field


class TeamSummary(BaseModel):
    team: str
    open: int = Field(description="Tasks in state open")
    resolved: int
    backlog: int = Field(default=0, description="Tasks not yet resolved or rejected")
    sla_breached: int = Field(default=0, description="Backlog tasks past their SLA deadline")
    oldest_open_raised_at: datetime | None = None
    states: dict[str, int] = Field(default_factory=dict)
    events: int = Field(default=0, description="Source events grouped into the team's tasks")


class TeamsOut(BaseModel):
    teams: list[TeamSummary]
