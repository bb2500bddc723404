"""Annual report schemas (SPEC §5.1)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from registry.vocabulary import (
    ALL_REPORT_METRICS,
    AMOUNT_METRICS,
    CARRIER_TYPES,
    REPORT_METRICS,
    REPORT_STATUSES,
)
from schemas.common import (
    MAX_AMOUNT,
    Amount,
    Flag,
    IdArg,
    PageArgsSchema,
    ResourceSchema,
    Timestamp,
    one_of,
    sort_field,
)
from schemas.members import RosterMismatchSchema

YEAR = validate.Range(min=1900, max=2999)


def metrics_description() -> str:
    """The known metric keys of each carrier type, for the API documentation."""
    per_type = "; ".join(
        f"`{carrier_type}`: " + ", ".join(f"{key} ({label})" for key, label in keys.items())
        for carrier_type, keys in REPORT_METRICS.items()
    )
    return (
        "Object of non-negative numbers keyed by metric; counts (people, enterprises, "
        "projects, hours…) are whole numbers, only amounts in 万元 (keys ending _wan) may "
        "have decimals; the keys a report may use depend on "
        f"its carrier's type (any subset, at least one): {per_type}."
    )


def metric_property(key: str) -> dict:
    """The documented values of one metric: a count is whole, an amount in 万元 not."""
    whole = {} if key in AMOUNT_METRICS else {"multipleOf": 1}
    return {"type": "number", "minimum": 0, "maximum": MAX_AMOUNT, **whole}


def Metrics(**kwargs) -> fields.Dict:  # noqa: N802 - reads like a field class
    """A report's metrics. The keys allowed depend on the carrier's type (422 for another
    type's key); the document names every known key and refuses any other."""
    return fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=60)),
        values=Amount(),
        validate=validate.Length(max=50),
        metadata={
            "description": metrics_description(),
            "openapi": {
                "properties": {key: metric_property(key) for key in ALL_REPORT_METRICS},
                "additionalProperties": False,
                "minProperties": 1,
            },
        },
        **kwargs,
    )


class AnnualReportSchema(ResourceSchema):
    """A carrier's report for one year: one per carrier and year."""

    carrier_id = fields.Integer(dump_only=True, metadata={"description": "The carrier."})
    year = fields.Integer(
        required=True,
        strict=True,
        validate=YEAR,
        metadata={
            "description": "The year reported on: not before the carrier's first "
            "accreditation, not in the future."
        },
    )
    metrics = Metrics(required=True)
    early_submission = Flag(
        load_only=True,
        load_default=False,
        metadata={
            "description": "Bureau admin only: accept a report of the current year before the "
            "year ends (otherwise 422: an annual report covers the whole year). The audit "
            "record of the submission shows it; anyone else sending true gets 403."
        },
    )
    status = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "submitted, accepted or returned (by the bureau)."},
    )
    submitted_at = Timestamp(
        dump_only=True, allow_none=True, metadata={"description": "When it was (last) submitted."}
    )
    review_comment = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The bureau's comment on its review."},
    )
    reviewed_at = Timestamp(
        dump_only=True, allow_none=True, metadata={"description": "When it was reviewed."}
    )
    roster_mismatches = fields.List(
        fields.Nested(RosterMismatchSchema),
        dump_only=True,
        metadata={
            "description": "On GET /annual-reports/{id} and the review answer: the report's "
            "figures that disagree with the carrier's roster (empty when they agree or the "
            "roster answers none of its metrics), for the reviewer."
        },
    )


class ReportResubmissionSchema(ma.Schema):
    """New metrics for a report not yet accepted (a returned one is submitted again)."""

    metrics = Metrics(required=True)


class ReviewSchema(ma.Schema):
    """The bureau's review of a submitted report."""

    status = fields.String(
        required=True,
        validate=validate.OneOf(["accepted", "returned"], error="Use accepted or returned."),
        metadata={"description": "accepted, or returned to the operator for correction."},
    )
    review_comment = fields.String(
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "Required when returning a report: what to correct."},
    )

    @ma.validates_schema
    def comment_when_returned(self, data, **kwargs):
        if data.get("status") == "returned" and not (data.get("review_comment") or "").strip():
            raise ma.ValidationError("Say what to correct.", "review_comment")


class AnnualReportQueryArgsSchema(PageArgsSchema):
    """Filters of the annual report list."""

    carrier_id = IdArg(
        metadata={"description": "Reports of this carrier."},
    )
    year = fields.Integer(validate=YEAR, metadata={"description": "Reports for this year."})
    status = fields.String(
        validate=one_of(REPORT_STATUSES, "report status"),
        metadata={"description": "submitted, accepted or returned."},
    )
    type = fields.String(
        validate=one_of(CARRIER_TYPES, "carrier type"),
        metadata={"description": "Reports of carriers of this type."},
    )
    sort = sort_field(["year", "submitted_at", "carrier_id", "status"])


class CarrierReportQueryArgsSchema(PageArgsSchema):
    """Filters of one carrier's reports."""

    status = fields.String(
        validate=one_of(REPORT_STATUSES, "report status"),
        metadata={"description": "submitted, accepted or returned."},
    )
