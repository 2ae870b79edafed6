"""``/v1/accounts``: one account's tasks across departments."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.api.deps import PAGE_DEFAULT, Api, Reader
from services.api.payloads.errors import AUTH_ERRORS, INVALID_INPUT
from services.api.payloads.tasks import AccountOut, elsewhere, task_out

router = APIRouter(prefix="/v1/accounts")


@router.get(
    "/{account}",
    response_model=AccountOut,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="All tasks of one account across departments (other teams' counted)",
)
def account_view(
    principal: Reader,
    api: Api,
    account: Annotated[str, Path(min_length=1, max_length=320)],
    limit: Annotated[int, Query(ge=1)] = PAGE_DEFAULT,
) -> AccountOut:
    tasks = api.repository.account_tasks(account, limit=limit)
    now = api.clock()
    return AccountOut(
        account=account,
        tasks=[task_out(t, now) for t in tasks if principal.sees_team(t.team)],
        elsewhere=elsewhere(tasks, principal),
    )
