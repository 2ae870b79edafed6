"""The account index: each account's open tasks, so a new task can name them as related."""

from __future__ import annotations

import json

from services.core.grouping import AccountIndex, index_task
from services.router.handlers.base import IGNORED, Context, dumps
from services.router.internal import decode_account_change
from services.router.pipeline import Handled
from services.router.pipeline import as_str as key_text


class AccountHandlers:
    def __init__(self, context: Context) -> None:
        self.context = context

    def track_account_tasks(self, key: bytes | None, value: bytes | None) -> Handled:
        change = decode_account_change(value)
        account = key_text(key)
        stored = self.context.tables.accounts.get(account)
        index = AccountIndex.from_dict(json.loads(stored)) if stored else None
        if change is not None:
            index = index_task(index, account, change)
        new = dumps((index or AccountIndex()).to_dict())
        return Handled(IGNORED, writes=[(self.context.tables.accounts, account, new)])
