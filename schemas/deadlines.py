"""Schemas of the deadlines list, the calendar feeds and the feed key."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from registry.lifecycle import DEADLINE_RULES
from registry.roster_rules import ROSTER_RULES
from schemas.alerts import AlertCarrierSchema
from schemas.common import IdArg, ListArgsSchema, Timestamp, name_search, one_of

DEADLINE_KINDS = [rule.name for rule in (*DEADLINE_RULES, *ROSTER_RULES)]
MAX_WITHIN = 3660


class DeadlineSchema(ma.Schema):
    """One deadline of one carrier."""

    kind = fields.String(metadata={"description": "One of " + ", ".join(DEADLINE_KINDS)})
    label = fields.String(metadata={"description": "Display label of the kind (Chinese)."})
    due_on = fields.Date()
    days_left = fields.Integer(metadata={"description": "Days from today (negative: overdue)."})
    report_year = fields.Integer(
        allow_none=True, metadata={"description": "For reports: the year the report covers."}
    )
    carrier_id = fields.Integer()
    carrier = fields.Nested(AlertCarrierSchema)
    warn_days = fields.List(
        fields.Integer(), metadata={"description": "Warning windows of the carrier's policy."}
    )
    uid = fields.String(metadata={"description": "The calendar event's UID (stable)."})


def _within(default: int) -> fields.Integer:
    return fields.Integer(
        load_default=default,
        validate=validate.Range(min=0, max=MAX_WITHIN),
        metadata={
            "description": f"Days ahead of today to include (0-{MAX_WITHIN}, default {default})."
        },
    )


def _kind() -> fields.String:
    return fields.String(
        validate=one_of(DEADLINE_KINDS, "deadline kind"),
        metadata={"description": "Only this kind: " + ", ".join(DEADLINE_KINDS)},
    )


def _organization_id() -> fields.Integer:
    return IdArg(
        metadata={"description": "Carriers hosted by, or partnered with, this organisation."},
    )


class DeadlineQueryArgsSchema(ListArgsSchema):
    """Window and filters of the deadlines list; ``q`` searches carrier names."""

    q = name_search("the names of the deadlines' carriers and their hosts")
    within = _within(90)
    include_overdue = fields.Boolean(
        load_default=False,
        metadata={"description": "Also list deadlines already past (default false)."},
    )
    kind = _kind()
    carrier_id = IdArg(
        metadata={"description": "Deadlines of this carrier."},
    )
    organization_id = _organization_id()


class CalendarArgsSchema(ma.Schema):
    """Window of a calendar feed, and the feed key for clients that cannot send headers."""

    within = _within(365)
    include_overdue = fields.Boolean(
        load_default=True,
        metadata={"description": "Keep deadlines already past (default true)."},
    )
    kind = _kind()
    organization_id = _organization_id()
    key = fields.String(
        metadata={
            "description": "Your calendar feed key (POST /api/v1/me/feed-key), instead of an "
            "Authorization header."
        }
    )


class CarrierCalendarArgsSchema(CalendarArgsSchema):
    """Window of one carrier's calendar feed."""

    class Meta:
        exclude = ("organization_id",)


class FeedKeySchema(ma.Schema):
    """A new calendar feed key: shown once."""

    feed_key = fields.String(metadata={"description": "The key; store it now."})
    calendar_url = fields.String(metadata={"description": "Your calendar feed with the key."})
    carrier_calendar_url = fields.String(
        metadata={"description": "Template of one carrier's feed with the key ({id})."}
    )
    created_at = Timestamp()


class FeedKeyStatusSchema(ma.Schema):
    """Whether the caller has a calendar feed key (the key itself is never shown again)."""

    active = fields.Boolean()
