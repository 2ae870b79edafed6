"""The API's tables, one module per subject; importing this package registers them all."""

from services.api.models.access import ApiToken
from services.api.models.accounts import (
    ACCOUNT_ALIASES,
    ACCOUNT_SETTINGS,
    SALES_OUTCOMES,
    AccountAlias,
    AccountSetting,
    SalesOutcome,
)
from services.api.models.base import (
    NAMING_CONVENTION,
    OPEN,
    RESOLVED,
    STATE_CHECK,
    STATES,
    TASK_ID_PATTERN,
    TASK_ID_RE,
    Base,
    UtcDateTime,
)
from services.api.models.capacity import CAPACITY_HOLDS, TASK_ORDERS, CapacityHold, TaskOrder
from services.api.models.deliveries import DELIVERIES, Callback, Delivery, DeliveryAttempt
from services.api.models.rollups import ROLLUPS, FigureRollup
from services.api.models.tasks import (
    ORIGIN_UPDATES,
    ORIGINS,
    TASK_EVENTS,
    TASKS,
    OriginUpdate,
    Task,
    TaskEvent,
    TaskOrigin,
    origins_of,
)
from services.api.models.trackers import (
    TRACKER_CHANGES,
    TRACKER_ISSUES,
    TrackerChangeApplied,
    TrackerIssue,
)

__all__ = [
    "ACCOUNT_ALIASES",
    "ACCOUNT_SETTINGS",
    "CAPACITY_HOLDS",
    "DELIVERIES",
    "NAMING_CONVENTION",
    "OPEN",
    "ORIGINS",
    "ORIGIN_UPDATES",
    "RESOLVED",
    "ROLLUPS",
    "SALES_OUTCOMES",
    "STATES",
    "STATE_CHECK",
    "TASKS",
    "TASK_EVENTS",
    "TASK_ID_PATTERN",
    "TASK_ID_RE",
    "TASK_ORDERS",
    "TRACKER_CHANGES",
    "TRACKER_ISSUES",
    "AccountAlias",
    "AccountSetting",
    "ApiToken",
    "Base",
    "Callback",
    "CapacityHold",
    "Delivery",
    "DeliveryAttempt",
    "FigureRollup",
    "OriginUpdate",
    "SalesOutcome",
    "Task",
    "TaskEvent",
    "TaskOrder",
    "TaskOrigin",
    "TrackerChangeApplied",
    "TrackerIssue",
    "UtcDateTime",
    "origins_of",
]
