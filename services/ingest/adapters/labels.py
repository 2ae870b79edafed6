"""Routing labels from a helpdesk's own fields: custom field ids and tags, per source.

A helpdesk says what a ticket is about in its own terms: a Zendesk drop-down custom field
``360001234567`` = ``billing_ui``, a Freshdesk ``cf_product``, or a tag
(``component_billing-ui``). A source's ``labels`` setting maps them to the labels handoff
routes on::

    {"component": {"custom_field": "360001234567",
                   "values": {"billing_ui": "billing-ui"},
                   "tags": {"invoice": "invoices"},
                   "tag_prefix": "component_"}}

For each label the custom field is read first (its value through ``values``, unlisted
values as they are), then the tags in the ticket's order (``tags``, then ``tag_prefix``).
``component`` is the ticket's component (what ownership matches); any other name becomes
``custom_fields.<name>``. A label the payload already carries is kept (the payload wins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

LabelName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", max_length=64)
]


class LabelRule(BaseModel):
    """Where one routing label comes from in a helpdesk's ticket."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    custom_field: str | None = Field(
        default=None, description="A custom field's id (Zendesk) or name (Freshdesk cf_...)"
    )
    values: dict[str, str] = Field(default_factory=dict, description="field value -> label")
    tags: dict[str, str] = Field(default_factory=dict, description="tag -> label value")
    tag_prefix: str | None = Field(default=None, min_length=1, description="<prefix><value>")


LabelMap = Mapping[str, LabelRule]


Found = tuple[str, tuple[str | int, ...]]  # the value, and where it was read (for errors)


def label_value(
    rule: LabelRule, custom_fields: Mapping[str, Any] | None, tags: Sequence[str] | None
) -> Found | None:
    """The label's value for one ticket and where it was read, or None when nothing says."""
    return _from_field(rule, custom_fields or {}) or _from_tags(rule, tags or ())


def _from_field(rule: LabelRule, custom_fields: Mapping[str, Any]) -> Found | None:
    if rule.custom_field is None:
        return None
    raw = custom_fields.get(rule.custom_field)
    if raw is None or isinstance(raw, bool) or not str(raw).strip():
        return None
    value = str(raw).strip()
    return rule.values.get(value, value), ("custom_fields", rule.custom_field)


def _from_tags(rule: LabelRule, tags: Sequence[str]) -> Found | None:
    for i, tag in enumerate(tags):
        if tag in rule.tags:
            return rule.tags[tag], ("tags", i)
        if rule.tag_prefix and tag.startswith(rule.tag_prefix) and tag != rule.tag_prefix:
            return tag[len(rule.tag_prefix) :], ("tags", i)
    return None
