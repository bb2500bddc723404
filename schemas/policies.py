"""Evaluation policy schemas (SPEC §3.1)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from registry.lifecycle import is_month_day
from registry.vocabulary import CARRIER_TYPES, LEVELS
from schemas.common import MONTH_DAY, Documented, Flag, PageArgsSchema, ResourceSchema, one_of


def _check_month_day(value: str | None) -> None:
    if value is not None and not is_month_day(value):
        raise ma.ValidationError(f"Not a month-day MM-DD: {value}.")


#: ``MM-DD`` of a real day; 02-29 is allowed (28 February in common years).
valid_month_day = Documented(_check_month_day, pattern=f"^{MONTH_DAY}$")


def strictly_descending(value: list[int]) -> None:
    """Warning windows from the earliest to the last, e.g. [90, 30, 7]."""
    if any(later >= earlier for earlier, later in zip(value, value[1:], strict=False)):
        raise ma.ValidationError("Warning days must be strictly descending, e.g. [90, 30, 7].")


class RosterRulesSchema(ma.Schema):
    """The roster rules of a policy (issue 12); a key left out takes its default."""

    postdoc_stay_years = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=10),
        metadata={"description": "A postdoc's planned stay from 进站, in years (default 2)."},
    )
    postdoc_extension_years = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=10),
        metadata={"description": "The one extension allowed, at most this many years (default 1)."},
    )
    recruit_within_years = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=20),
        metadata={
            "description": "A postdoctoral station recruits its first postdoc within this many "
            "years of accreditation, or `no_postdoc_recruited` opens (default 2)."
        },
    )
    incubation_years = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=20),
        metadata={
            "description": "Longest stay of a resident enterprise in a park or maker space "
            "before `incubation_overdue` opens (default 3)."
        },
    )


class EvaluationPolicySchema(ResourceSchema):
    """How carriers of one type × level are evaluated and report (SPEC §3.1)."""

    type = fields.String(dump_only=True, metadata={"description": "Carrier type."})
    level = fields.String(dump_only=True, metadata={"description": "Carrier level."})
    annual_assessment = Flag(
        required=True,
        metadata={"description": "A yearly assessment: next evaluation within a year."},
    )
    term_years = fields.Integer(
        required=True,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "Validity and evaluation cycle in years, or null for none."},
    )
    report_due = fields.String(
        required=True,
        allow_none=True,
        validate=valid_month_day,
        metadata={
            "description": "MM-DD by which last year's annual report is due, or null when no "
            "report is asked for; 02-29 falls on 28 February in common years."
        },
    )
    warn_days = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=3660)),
        required=True,
        validate=[validate.Length(min=1, max=10), strictly_descending],
        metadata={
            "description": "Days before a deadline at which alerts open, positive and "
            "strictly descending, e.g. [90, 30, 7]."
        },
    )
    lapses = Flag(
        metadata={
            "description": "Whether validity lapses by the calendar: false for carriers "
            "evaluated only in rounds (evaluation campaigns), such as national postdoctoral "
            "workstations, which never expire and get no accreditation_expiring alert. "
            "True when omitted from a PUT."
        },
    )
    source = fields.String(
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={
            "description": "The published rule this policy follows, in Chinese: issuer, "
            "title, document number and year (e.g. 人社部发〔2008〕115号), or a plain "
            "statement that none was found and the values are the bureau's choice. Null when "
            "omitted from a PUT."
        },
    )
    note = fields.String(
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "Remarks on the policy (how the values were chosen)."},
    )
    roster_rules = fields.Nested(
        RosterRulesSchema,
        allow_none=True,
        metadata={
            "description": "Roster rules (postdoc stay, recruitment, incubation periods); null "
            "or a key left out means the default. Left as it is when not sent."
        },
    )


class EvaluationPolicyQueryArgsSchema(PageArgsSchema):
    """Filters of the policy list."""

    type = fields.String(
        validate=one_of(CARRIER_TYPES, "carrier type"),
        metadata={"description": "Policies of this carrier type."},
    )
    level = fields.String(
        validate=one_of(LEVELS, "level"), metadata={"description": "Policies of this level."}
    )
