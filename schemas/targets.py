"""Target schemas (SPEC §3.4)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from registry.roster_rules import ROLE_TYPES
from registry.vocabulary import (
    ALL_REPORT_METRICS,
    CARRIER_STATUSES,
    CARRIER_TYPES,
    LEVELS,
    TARGET_METRICS,
    TARGET_STATES,
)
from schemas.carriers import TAG
from schemas.common import Amount, Flag, ListArgsSchema, ResourceSchema, one_of, sort_field

YEAR = validate.Range(min=1900, max=2999)


class CarrierTypes(fields.Field):
    """One carrier type, or a list of them (carriers of any of those types)."""

    check_type = one_of(CARRIER_TYPES, "carrier type")

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            self.check_type(value)
            return value
        if (
            isinstance(value, list)
            and 1 <= len(value) <= len(CARRIER_TYPES)
            and all(isinstance(item, str) for item in value)
        ):
            for item in value:
                self.check_type(item)
            return list(dict.fromkeys(value))
        raise ma.ValidationError("A carrier type, or a list of one to nine carrier types.")


class TargetFilterSchema(ma.Schema):
    """Which carriers a target counts (or whose reports it sums); every key optional."""

    type = CarrierTypes(
        metadata={
            "description": "A carrier type, or a list of types (carriers of any of them, e.g. "
            '["postdoc_workstation", "postdoc_innovation_base"]): ' + ", ".join(CARRIER_TYPES),
            "oneOf": [
                {"type": "string", "enum": list(CARRIER_TYPES)},
                {
                    "type": "array",
                    "items": {"type": "string", "enum": list(CARRIER_TYPES)},
                    "minItems": 1,
                    "maxItems": len(CARRIER_TYPES),
                },
            ],
        },
    )
    level = fields.String(
        validate=one_of(LEVELS, "level"), metadata={"description": "Exactly this level."}
    )
    level_min = fields.String(
        validate=one_of(LEVELS, "level"),
        metadata={"description": "This level or higher."},
    )
    status = fields.String(
        validate=one_of(CARRIER_STATUSES, "status"),
        metadata={"description": "Carrier status now, e.g. accredited."},
    )
    tag = fields.String(validate=TAG, metadata={"description": "Carriers with this tag."})
    accredited_from = fields.Date(metadata={"description": "accredited_on on or after."})
    accredited_to = fields.Date(metadata={"description": "accredited_on on or before."})
    role = fields.String(
        validate=one_of(ROLE_TYPES, "roster role"),
        metadata={
            "description": "Roster role: roster_count counts entries of it; carrier_count "
            "counts carriers having one. Not for report_sum."
        },
    )
    active = Flag(
        metadata={"description": "With role or roster_count: only entries on the roster today."}
    )


class PendingReportSchema(ma.Schema):
    """An annual report a report_sum target still waits for."""

    carrier_id = fields.Integer(metadata={"description": "The carrier that owes it."})
    name = fields.String(metadata={"description": "The carrier's name."})
    due_on = fields.Date(metadata={"description": "When it is due."})
    overdue = fields.Boolean(metadata={"description": "Its due date has passed."})


class TargetProgressSchema(ma.Schema):
    """Live progress of a target."""

    current = Amount(metadata={"description": "The figure now."})
    percent = fields.Float(metadata={"description": "current / target_value × 100 (1 decimal)."})
    expected = Amount(
        metadata={"description": "Where a linear pace from the period start would be today."}
    )
    state = fields.String(
        metadata={
            "description": "achieved (current ≥ target), missed (deadline passed), on_track "
            "(current ≥ expected) or at_risk: " + ", ".join(TARGET_STATES) + ". A report_sum "
            "target is on_track while a report it waits for is not yet due (reports arrive "
            "after their year), and missed only once the deadline and every due date passed."
        }
    )
    reports_counted = fields.Integer(
        metadata={"description": "report_sum only: reports of the year counted so far."}
    )
    reports_pending = fields.List(
        fields.Nested(PendingReportSchema),
        metadata={
            "description": "report_sum only: the reports of the year still to come from "
            "carriers matching the filter (accredited in that year, active now), by due date."
        },
    )


#: The smallest goal: a hundredth (of a count, or of 万元).
MIN_TARGET = 0.01


class TargetSchema(ResourceSchema):
    """A named, dated goal the bureau tracks, with live progress."""

    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "What the bureau calls it."},
    )
    metric = fields.String(
        required=True,
        validate=one_of(TARGET_METRICS, "target metric"),
        metadata={
            "description": "carrier_count: carriers matching `filter` now; report_sum: the sum "
            "of `report_metric` over the submitted or accepted reports of `year` of the "
            "carriers matching `filter`; roster_count: roster entries (a trainee cohort counts "
            "its size) of the carriers matching `filter`, of `filter.role`, on the roster today "
            "when `filter.active`, started in `year` when given."
        },
    )
    filter = fields.Nested(
        TargetFilterSchema,
        load_default=dict,
        metadata={"description": "Carrier filter; a PATCH replaces it whole."},
    )
    report_metric = fields.String(
        allow_none=True,
        validate=one_of(ALL_REPORT_METRICS, "report metric"),
        metadata={"description": "report_sum only: an annual-report metric key."},
    )
    year = fields.Integer(
        allow_none=True,
        strict=True,
        validate=YEAR,
        metadata={
            "description": "report_sum: the year of the reports summed (required); "
            "roster_count: count only entries started that year (optional)."
        },
    )
    target_value = Amount(
        required=True,
        # Not any positive number: progress is current / target_value × 100, which a goal
        # like 1e-308 overflows (the percentage was written as null).
        validate=validate.Range(min=MIN_TARGET),
        metadata={"description": f"The goal, a number from {MIN_TARGET}."},
    )
    deadline = fields.Date(required=True, metadata={"description": "When it is due."})
    starts_on = fields.Date(
        allow_none=True,
        metadata={
            "description": "Start of the period the pace is measured over; default 1 January "
            "of the deadline's year."
        },
    )
    note = fields.String(
        allow_none=True, validate=validate.Length(max=2000), metadata={"description": "Free text."}
    )
    progress = fields.Nested(
        TargetProgressSchema, dump_only=True, metadata={"description": "Computed on every read."}
    )


class TargetQueryArgsSchema(ListArgsSchema):
    """Filters of the target list."""

    metric = fields.String(
        validate=one_of(TARGET_METRICS, "target metric"),
        metadata={"description": "carrier_count or report_sum."},
    )
    year = fields.Integer(validate=YEAR, metadata={"description": "report_sum targets of a year."})
    sort = sort_field(["name", "deadline", "created_at"])
