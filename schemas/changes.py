"""Schemas of the audit trail: /changes and /carriers/{id}/history."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma
from marshmallow import fields, validate

from registry.vocabulary import CHANGE_ACTIONS
from schemas.common import (
    DATE,
    TIME,
    IdArg,
    ListArgsSchema,
    ResourceSchema,
    Timestamp,
    one_of,
    to_naive_utc,
)


class ChangeSchema(ResourceSchema):
    """One audit record: who changed what, when, with the object's state before and after."""

    at = Timestamp(metadata={"description": "When the change was written."})
    actor = fields.String(metadata={"description": "The principal's name (`cli`, `system`…)."})
    actor_id = fields.Integer(
        allow_none=True,
        metadata={
            "description": "The principal's id (names are not unique); null for the CLI and "
            "the jobs."
        },
    )
    token_name = fields.String(
        allow_none=True, metadata={"description": "The token the principal acted with."}
    )
    action = fields.String(metadata={"description": "One of " + ", ".join(CHANGE_ACTIONS)})
    object_type = fields.String(metadata={"description": "carrier, organization, token…"})
    object_id = fields.Integer(allow_none=True)
    carrier_id = fields.Integer(
        allow_none=True, metadata={"description": "The carrier whose history this belongs to."}
    )
    before = fields.Dict(allow_none=True, metadata={"description": "State before (null: new)."})
    after = fields.Dict(allow_none=True, metadata={"description": "State after (null: deleted)."})
    changed = fields.List(
        fields.String(),
        metadata={"description": "Top-level fields whose value differs between before and after."},
    )
    request_id = fields.String(
        allow_none=True, metadata={"description": "The `X-Request-ID` of the request."}
    )


class TimeBound(fields.Field):
    """A date (``YYYY-MM-DD``, the whole day in the configured zone) or an ISO 8601 time."""

    def __init__(self, *, end: bool, **kwargs):
        super().__init__(**kwargs)
        self.end = end

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or len(value) > 40:
            raise ma.ValidationError("Not a date or an ISO 8601 time.")
        try:
            if len(value) == 10:
                day = dt.date.fromisoformat(value)
                if self.end:
                    if day == dt.date.max:
                        raise ma.ValidationError("Not a representable time.")
                    day += dt.timedelta(days=1)
                # The end of a day is the start of the next, exclusive.
                return to_naive_utc(dt.datetime.combine(day, dt.time())), not self.end
            return to_naive_utc(dt.datetime.fromisoformat(value)), True
        except ValueError as error:
            raise ma.ValidationError("Not a date or an ISO 8601 time.") from error


#: How ``from`` and ``to`` are documented: a date, or a date and time (without an offset,
#: in the configured time zone).
TIME_BOUND = {"type": "string", "pattern": f"^{DATE}(?:{TIME})?$"}


class ChangeQueryArgsSchema(ListArgsSchema):
    """Filters of the audit trail; each names a field of the record."""

    class Meta:
        exclude = ("q",)

    object_type = fields.String(
        validate=validate.Regexp(r"^[a-z][a-z_]{0,39}$", error="Not an object type: {input}."),
        metadata={"description": "carrier, organization, token…"},
    )
    object_id = IdArg(
        metadata={"description": "The changed object's id (with object_type)."},
    )
    actor = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The principal's name, exactly."},
    )
    actor_id = IdArg(
        metadata={"description": "The principal's id."},
    )
    action = fields.String(
        validate=one_of(CHANGE_ACTIONS, "change action"),
        metadata={"description": "One of " + ", ".join(CHANGE_ACTIONS)},
    )
    request_id = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The changes of one request (its `X-Request-ID`)."},
    )
    time_from = TimeBound(
        end=False,
        data_key="from",
        metadata={
            "description": "Changes at or after this time (a date means its start)",
            **TIME_BOUND,
        },
    )
    time_to = TimeBound(
        end=True,
        data_key="to",
        metadata={
            "description": "Changes at or before this time (a date means the whole day)",
            **TIME_BOUND,
        },
    )
    sort = fields.String(
        validate=one_of(["at", "-at"], "sort order"),
        metadata={"description": "`-at` (newest first, the default) or `at`."},
    )


class HistoryArgsSchema(ChangeQueryArgsSchema):
    """Filters of one carrier's history."""

    class Meta:
        exclude = ("q", "object_type", "object_id")
