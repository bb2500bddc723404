"""Evaluation campaign schemas (SPEC §3.1, §5 ``/evaluation-campaigns``)."""

from __future__ import annotations

from marshmallow import fields, validate

from registry.vocabulary import CARRIER_TYPES, LEVELS
from schemas.common import ListArgsSchema, ResourceSchema, no_duplicates, one_of, sort_field


class EvaluationCampaignSchema(ResourceSchema):
    """An evaluation round announced by notice: the carriers it covers and its deadlines."""

    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The round's name, e.g. 2025年度博士后科研工作站综合评估."},
    )
    document_ref = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The issuing document, e.g. 人社厅发〔2025〕12号."},
    )
    types = fields.List(
        fields.String(validate=one_of(CARRIER_TYPES, "carrier type")),
        required=True,
        validate=[validate.Length(min=1, max=len(CARRIER_TYPES)), no_duplicates],
        metadata={"description": "Carrier types covered (at least one)."},
    )
    levels = fields.List(
        fields.String(validate=one_of(LEVELS, "level")),
        validate=[validate.Length(max=len(LEVELS)), no_duplicates],
        metadata={"description": "Levels covered; empty or omitted: every level."},
    )
    accredited_before = fields.Date(
        allow_none=True,
        metadata={
            "description": "Covers carriers accredited before this day; null: whenever accredited."
        },
    )
    opened_on = fields.Date(
        allow_none=True,
        metadata={
            "description": "The day the round was announced (default today). Alerts open from "
            "this day, and an evaluation dated on or after it answers the round."
        },
    )
    materials_due_on = fields.Date(
        required=True,
        metadata={
            "description": "Deadline for the carriers' materials: the due date of their "
            "evaluation_due / evaluation_overdue alerts. Not before opened_on."
        },
    )
    evaluation_on = fields.Date(
        allow_none=True,
        metadata={"description": "The evaluation date, when announced; not before the deadline."},
    )
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))
    covered_count = fields.Integer(
        dump_only=True,
        metadata={
            "description": "Carriers the round covers now (accredited, of its types and levels, "
            "accredited before the date); for operators, only their own."
        },
    )


class EvaluationCampaignQueryArgsSchema(ListArgsSchema):
    """Filters and sort of the campaign list (default: latest materials deadline first)."""

    type = fields.String(
        validate=one_of(CARRIER_TYPES, "carrier type"),
        metadata={"description": "Campaigns covering this carrier type."},
    )
    sort = sort_field(["materials_due_on", "opened_on", "evaluation_on", "name", "created_at"])
