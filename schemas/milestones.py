"""Milestone schemas (SPEC §2.4, §5.1)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from registry.lifecycle import KIND_FIELDS, REQUIRED_FIELDS
from registry.vocabulary import EVALUATION_RESULTS, LEVELS, MILESTONE_KINDS
from schemas.carriers import CarrierSchema
from schemas.common import PageArgsSchema, ResourceSchema, one_of


def _kind_rules() -> str:
    lines = []
    for kind in MILESTONE_KINDS:
        takes = sorted(KIND_FIELDS[kind])
        needs = sorted(REQUIRED_FIELDS.get(kind, ()))
        text = f"`{kind}`: " + (", ".join(takes) if takes else "no optional field")
        if needs:
            text += f" ({', '.join(needs)} required)"
        lines.append(text)
    return "; ".join(lines)


class MilestoneSchema(ResourceSchema):
    """One event of a carrier's accreditation history. Append-only: a wrong one is voided."""

    carrier_id = fields.Integer(dump_only=True, metadata={"description": "The carrier."})
    kind = fields.String(
        required=True,
        validate=one_of(MILESTONE_KINDS, "milestone kind"),
        metadata={
            "description": "One of "
            + ", ".join(MILESTONE_KINDS)
            + ". Fields each kind takes: "
            + _kind_rules()
            + ". Reads may also show `expired`, written by the scan job."
        },
    )
    occurred_on = fields.Date(
        required=True, metadata={"description": "When it happened; not in the future."}
    )
    level = fields.String(
        allow_none=True,
        validate=one_of(LEVELS, "level"),
        metadata={
            "description": "The level granted (accredited, level_changed only); an "
            "accreditation without one keeps the carrier's level."
        },
    )
    result = fields.String(
        allow_none=True,
        validate=one_of(EVALUATION_RESULTS, "result"),
        metadata={
            "description": "Evaluation result, required on the three evaluation kinds: "
            "excellent, good, pass or fail (fail → status rectifying)."
        },
    )
    certificate_no = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Plaque or certificate number (accredited, level_changed)."},
    )
    valid_until = fields.Date(
        allow_none=True,
        metadata={
            "description": "Validity end stated by an accreditation, a level change or a "
            "passed term evaluation; without it the policy's term_years applies."
        },
    )
    rectify_by = fields.Date(
        allow_none=True,
        metadata={
            "description": "Rectification deadline of a failed evaluation (default: 3 months)."
        },
    )
    document_ref = fields.String(
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"description": "Reference of the decision document (文号)."},
    )
    note = fields.String(
        allow_none=True,
        validate=validate.Length(max=10_000),
        metadata={"description": "Free text."},
    )
    voided = fields.Boolean(
        dump_only=True, metadata={"description": "Voided milestones no longer count."}
    )
    void_reason = fields.String(
        dump_only=True, allow_none=True, metadata={"description": "Why it was voided."}
    )
    recorded_by = fields.String(
        dump_only=True, allow_none=True, metadata={"description": "Who recorded it."}
    )


class MilestoneQueryArgsSchema(PageArgsSchema):
    """Pagination and the voided filter of a carrier's milestones."""

    voided = fields.Boolean(
        metadata={"description": "true: only voided milestones; false: only those in force."}
    )


class VoidSchema(ma.Schema):
    """Why a milestone is voided."""

    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "Why the milestone was wrong (kept with it)."},
    )

    @ma.validates("reason")
    def not_blank(self, value, **kwargs):
        if not value.strip():
            raise ma.ValidationError("A reason cannot be blank.")


class MilestoneOutcomeSchema(ma.Schema):
    """A recorded or voided milestone and the carrier's state after it."""

    milestone = fields.Nested(MilestoneSchema, metadata={"description": "The milestone."})
    carrier = fields.Nested(
        CarrierSchema, metadata={"description": "The carrier after it (its new state)."}
    )
