"""Orders against production capacity (story 2): the fields a rush order, a plant's
update and a planning task carry on top of ``schemas.events``' models.

Kept apart from ``schemas.events`` (which is near its size limit) as mixins: a
``SalesNote`` names the plant, the CRM's opportunity and the asker's language; a
``ProductionCapacity`` names the products its line can make; a ``TaskRouted`` of
production planning carries the order as structured fields (``planning``).
Every field is optional so that older events stay valid.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

Locale = Literal["ja", "en"]
_Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
_Slug = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$"
    ),
]


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


Product = Annotated[_Slug, BeforeValidator(_lower)]


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderFields(_Fields):
    """What a sales note adds for a rush order (mixed into ``SalesNote``)."""

    plant: _Ref | None = Field(
        default=None, description="Rush order: only this plant's lines may make it."
    )
    opportunity_id: _Ref | None = Field(
        default=None,
        description="The CRM's opportunity / deal id: a lost or cancelled deal releases "
        "the units held for its rush orders.",
    )
    locale: Locale | None = Field(
        default=None, description="The asker's language for answers (default: the config's)."
    )


class LineProducts(_Fields):
    """What a capacity update adds: the products the line can make (mixed into
    ``ProductionCapacity``). An update naming none counts for its ``product_family``."""

    products: list[Product] = Field(
        default_factory=list,
        max_length=500,
        description="Products (or product families) this line can make; a rush order "
        "is checked only against lines that make its product.",
    )


class LineRef(_Fields):
    plant: _Ref
    line: _Ref


class Shortfall(_Fields):
    """Units still missing on a date (counted from today through that date)."""

    date: date
    units: int = Field(ge=0)


class PlanningRequest(_Fields):
    """A rush order that does not fit: what production planning is asked to find."""

    product: _Slug
    quantity: int = Field(gt=0)
    due_date: date
    plant: _Ref | None = None
    candidates: list[LineRef] = Field(default_factory=list, description="Lines that make it")
    shortfall: list[Shortfall] = Field(default_factory=list, description="Per date to due")
    earliest_feasible: date | None = None
    opportunity_id: _Ref | None = None
    locale: Locale | None = Field(default=None, description="The asker's language")


class HeldUnits(_Fields):
    """Units held for an answered rush order on one line, until released or ``expires_at``."""

    hold_id: _Ref
    plant: _Ref
    line: _Ref
    units: int = Field(gt=0)
    ready_by: date = Field(description="The date the last held unit is made")
    expires_at: AwareDatetime


class Refusal(_Fields):
    """Why a rush order could not be checked at all (answered at once, not planning work)."""

    code: Literal["unknown_product", "due_before_today", "quantity_not_positive"]
    reason: Annotated[str, StringConstraints(max_length=500)]
    product: _Ref
    quantity: int
    due_date: date
    plant: _Ref | None = None


class RoutedOrderFields(_Fields):
    """What a routed task adds for orders (mixed into ``TaskRouted``)."""

    planning: PlanningRequest | None = Field(
        default=None, description="A rush order that did not fit, as structured fields"
    )
    held: HeldUnits | None = Field(default=None, description="A rush order answered feasible")
    refused: Refusal | None = Field(
        default=None, description="A rush order that could not be checked, answered at once"
    )
    locale: Locale | None = Field(default=None, description="The asker's language")


HOLD_RELEASED = "capacity.hold_released"  # on handoff.feedback, keyed by the account


class HoldReleased(_Fields):
    """Units held for a rush order are free again: the hold expired or the deal was lost."""

    hold_id: _Ref
    task_id: _Ref
    plant: _Ref
    line: _Ref
    units: int = Field(ge=0, description="Units the hold still held on its dates")
    reason: Literal["expired", "deal_lost", "deal_cancelled"]
    opportunity_id: _Ref | None = None
    released_at: AwareDatetime
