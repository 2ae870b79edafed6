"""The API's tables, one module per subject; importing this package registers them all."""

from services.api.models.access import ApiToken
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
from services.api.models.deliveries import DELIVERIES, Callback, Delivery, DeliveryAttempt
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

__all__ = [
    "DELIVERIES",
    "NAMING_CONVENTION",
    "OPEN",
    "ORIGINS",
    "ORIGIN_UPDATES",
    "RESOLVED",
    "STATES",
    "STATE_CHECK",
    "TASKS",
    "TASK_EVENTS",
    "TASK_ID_PATTERN",
    "TASK_ID_RE",
    "ApiToken",
    "Base",
    "Callback",
    "Delivery",
    "DeliveryAttempt",
    "OriginUpdate",
    "Task",
    "TaskEvent",
    "TaskOrigin",
    "UtcDateTime",
    "origins_of",
]
