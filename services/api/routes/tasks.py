"""``/v1/tasks``: finding tasks, one task in full, and changing one (resolve, reassign, ...)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.api.accounts_outcomes import task_outcomes
from services.api.auth import Principal
from services.api.capacity import task_order
from services.api.cursor import decode_cursor, encode_cursor
from services.api.db import Task
from services.api.deps import PAGE_DEFAULT, Api, Reader, TaskIdPath, Writer
from services.api.errors import BadActionError, NotFoundError, TaskNotFoundError
from services.api.feedback import Change, change_task
from services.api.payloads.actions import (
    ActionBody,
    ActionRequest,
    CommentRequest,
    ReasonRequest,
    ReassignRequest,
    ResolveRequest,
)
from services.api.payloads.errors import (
    AUTH_ERRORS,
    CHANGE_ERRORS,
    INVALID_INPUT,
    TASK_ERRORS,
    ErrorOut,
)
from services.api.payloads.fields import TeamName, UtcInstant
from services.api.payloads.tasks import (
    AttemptOut,
    DeliveryOut,
    RequesterUpdateOut,
    SourceEventOut,
    TaskDetail,
    TaskList,
    TaskOut,
    TimelineEntry,
    TrackerOut,
    elsewhere,
    event_ids,
    task_out,
)
from services.api.repository import SlaFilter, SqlTaskRepository, StateFilter, TaskQuery
from services.api.rules import unknown_team
from services.api.tracker_store import task_trackers

router = APIRouter(prefix="/v1/tasks")


@router.get(
    "",
    response_model=TaskList,
    responses={**AUTH_ERRORS, 404: {"model": ErrorOut}, **INVALID_INPUT},
    summary="Tasks matching filters, oldest raised first, with a cursor for the next page",
)
def list_tasks(
    principal: Reader,
    api: Api,
    team: Annotated[TeamName | None, Query(description="Only this team")] = None,
    state: Annotated[StateFilter, Query(description="State, 'active' or 'all'")] = "all",
    sla: Annotated[SlaFilter | None, Query(description="SLA standing")] = None,
    account: Annotated[str | None, Query(min_length=1, max_length=320)] = None,
    department: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Who asked, e.g. support")
    ] = None,
    created_since: Annotated[UtcInstant | None, Query(description="Raised at or after")] = None,
    updated_since: Annotated[UtcInstant | None, Query(description="Changed at or after")] = None,
    limit: Annotated[int, Query(ge=1)] = PAGE_DEFAULT,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> TaskList:
    query = TaskQuery(
        team=_visible_team(team, principal),
        state=state,
        sla=sla,
        account=account,
        department=department,
        created_since=created_since,
        updated_since=updated_since,
    )
    after = decode_cursor(cursor) if cursor is not None else None
    now = api.clock()
    tasks = api.repository.list_tasks(query, now=now, limit=limit + 1, after=after)
    page = tasks[:limit]
    next_cursor = encode_cursor(page[-1]) if len(tasks) > limit else None
    return TaskList(tasks=[task_out(t, now) for t in page], next_cursor=next_cursor)


def _visible_team(team: str | None, principal: Principal) -> str | None:
    """The team filter a caller may use: a team token sees its own team only (else 404)."""
    if principal.team is None:
        return team
    if team is not None and team != principal.team:
        raise NotFoundError(f"no team {team!r} visible to this token")
    return principal.team


def visible_task(tasks: SqlTaskRepository, task_id: str, principal: Principal) -> Task:
    """The task, if the caller may see it; another team's task is a 404, as a missing one."""
    task = tasks.get(task_id)
    if not principal.sees_team(task.team):
        raise TaskNotFoundError(task_id)
    return task


@router.get(
    "/{task_id}",
    response_model=TaskDetail,
    responses=TASK_ERRORS,
    summary="One task with its timeline, deliveries and the account's other tasks",
)
def get_task(principal: Reader, api: Api, task_id: TaskIdPath) -> TaskDetail:
    tasks = api.repository
    task = visible_task(tasks, task_id, principal)
    now = api.clock()
    others = [t for t in tasks.account_tasks(task.account, limit=200) if t.task_id != task_id]
    return TaskDetail(
        **task_out(task, now).model_dump(),
        source_events=_source_events(tasks, task),
        timeline=[TimelineEntry.model_validate(e) for e in tasks.timeline(task_id)],
        related=[task_out(t, now) for t in others if principal.sees_team(t.team)],
        related_elsewhere=elsewhere(others, principal),
        deliveries=_deliveries(tasks, task_id),
        trackers=[TrackerOut.model_validate(t) for t in task_trackers(api.engine, task_id)],
        requester_updates=[
            RequesterUpdateOut.model_validate(u) for u in tasks.origin_updates(task)
        ],
        outcomes=task_outcomes(api.engine, task_id),
        order=task_order(api.engine, task_id),
    )


def _source_events(tasks: SqlTaskRepository, task: Task) -> list[SourceEventOut]:
    """The requests grouped into the task: those recorded with their origin, then the rest."""
    known = {o.event_id: o for o in tasks.origins(task.task_id)}
    listed = [
        SourceEventOut(source_event_id=o.event_id, source=o.source, ref=o.ref,
                       raised_at=o.raised_at)
        for o in known.values()
    ]  # fmt: skip
    return listed + [
        SourceEventOut(source_event_id=event_id, source=task.source)
        for event_id in event_ids(task)
        if event_id not in known
    ]


def _deliveries(tasks: SqlTaskRepository, task_id: str) -> list[DeliveryOut]:
    """The callbacks owed for the task, each with its attempts."""
    return [
        DeliveryOut.model_validate(d).model_copy(
            update={"log": [AttemptOut.model_validate(a) for a in attempts]}
        )
        for d, attempts in tasks.deliveries(task_id)
    ]


def _change(
    api: Api, principal: Principal, task_id: str, action: str, body: ActionBody, **kw: Any
) -> TaskOut:
    """Change the task as ``principal`` (publishing the feedback first); the task after."""
    change = Change(
        action,
        message=body.message,
        actor=principal.name,
        expected_version=body.expected_version,
        visible_team=principal.team,
        **kw,
    )
    task = change_task(
        api.engine, task_id, change, publisher=api.feedback, clock=api.clock, metrics=api.metrics
    )
    return task_out(task, api.clock())


@router.post(
    "/{task_id}/resolve",
    response_model=TaskOut,
    responses=CHANGE_ERRORS,
    summary="Answer a task; the answer is sent back to whoever asked",
)
def resolve(principal: Writer, api: Api, task_id: TaskIdPath, body: ResolveRequest) -> TaskOut:
    return _change(api, principal, task_id, "resolve", body)


@router.post(
    "/{task_id}/acknowledge",
    response_model=TaskOut,
    responses=CHANGE_ERRORS,
    summary="The team has seen the task (stops the acknowledge SLA clock)",
)
def acknowledge(principal: Writer, api: Api, task_id: TaskIdPath, body: ActionRequest) -> TaskOut:
    return _change(api, principal, task_id, "acknowledge", body)


@router.post(
    "/{task_id}/start",
    response_model=TaskOut,
    responses=CHANGE_ERRORS,
    summary="Work on the task has started (in_progress)",
)
def start(principal: Writer, api: Api, task_id: TaskIdPath, body: ActionRequest) -> TaskOut:
    return _change(api, principal, task_id, "start", body)


@router.post(
    "/{task_id}/reject",
    response_model=TaskOut,
    responses=CHANGE_ERRORS,
    summary="Refuse the task, with a reason sent back to whoever asked",
)
def reject(principal: Writer, api: Api, task_id: TaskIdPath, body: ReasonRequest) -> TaskOut:
    return _change(api, principal, task_id, "reject", body)


@router.post(
    "/{task_id}/reopen",
    response_model=TaskOut,
    responses=CHANGE_ERRORS,
    summary="Reopen a resolved or rejected task, with a reason",
)
def reopen(principal: Writer, api: Api, task_id: TaskIdPath, body: ReasonRequest) -> TaskOut:
    return _change(api, principal, task_id, "reopen", body)


@router.post(
    "/{task_id}/reassign",
    response_model=TaskOut,
    responses=CHANGE_ERRORS,
    summary="Hand the task to another team, with a reason",
)
def reassign(principal: Writer, api: Api, task_id: TaskIdPath, body: ReassignRequest) -> TaskOut:
    visible_task(api.repository, task_id, principal)  # a task the caller cannot see stays a 404
    if (reason := unknown_team(body.team, api.rules.current)) is not None:
        raise BadActionError("body.team", reason)
    return _change(api, principal, task_id, "reassign", body, to_team=body.team)


@router.post(
    "/{task_id}/comments",
    response_model=TaskOut,
    responses=CHANGE_ERRORS,
    summary="Comment on a task (task.commented; the state stays); the origins get it too",
)
def comment(principal: Writer, api: Api, task_id: TaskIdPath, body: CommentRequest) -> TaskOut:
    return _change(api, principal, task_id, "comment", body, public=body.public)
