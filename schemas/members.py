"""Roster entry schemas (SPEC §5.1 member, issue 12)."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma
from marshmallow import fields, validate

from registry.roster_rules import ROLE_OUTCOMES, ROLE_TYPES
from schemas.common import Id, IdArg, ListArgsSchema, ResourceSchema, one_of, sort_field

ROLES = list(ROLE_TYPES)
OUTCOMES = sorted(set().union(*ROLE_OUTCOMES.values()))
ROLE_HELP = "; ".join(f"`{role}`: {', '.join(sorted(types))}" for role, types in ROLE_TYPES.items())


#: Roster dates stay in a range where adding a stay of years is always a date.
DATE_RANGE = validate.Range(
    min=dt.date(1900, 1, 1),
    max=dt.date(2999, 12, 31),
    error="Must be a date from 1900-01-01 to 2999-12-31.",
)


def _date(description: str) -> fields.Date:
    return fields.Date(allow_none=True, validate=DATE_RANGE, metadata={"description": description})


def _text(length: int, description: str) -> fields.String:
    return fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=length),
        metadata={"description": description},
    )


class MemberOrganizationSchema(ma.Schema):
    """The resident enterprise, in short."""

    id = fields.Integer()
    name = fields.String()
    uscc = fields.String(allow_none=True)


class MemberSchema(ResourceSchema):
    """A roster entry: a person, an enterprise or a cohort attached to a carrier.

    Personal fields (name, institution, title, topic) are shown only to callers who may read
    the carrier fully; no ID numbers or birth dates are kept.
    """

    carrier_id = fields.Integer(dump_only=True, metadata={"description": "The carrier."})
    role = fields.String(
        required=True,
        validate=one_of(ROLES, "roster role"),
        metadata={"description": "Role, by carrier type: " + ROLE_HELP + ". Fixed once created."},
    )
    name = _text(
        200,
        "Person's name (postdoc, expert, master, apprentice) or cohort name; personal. "
        "Null once erased.",
    )
    organization_id = Id(
        allow_none=True,
        metadata={"description": "resident_enterprise: the enterprise (an organisation)."},
    )
    organization = fields.Nested(
        MemberOrganizationSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "The resident enterprise, in short."},
    )
    institution = _text(
        200, "Cooperating university or mobile station (postdoc), home institution (expert)."
    )
    title = _text(100, "Professional title (expert, master, apprentice).")
    topic = _text(300, "Research topic (postdoc), cooperation field (expert, master), business.")
    size = fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1, max=100_000),
        metadata={"description": "trainee_cohort: number of trainees."},
    )
    started_on = _date("进站 / agreement start / move-in / cohort start.")
    planned_end_on = _date(
        "Planned 出站 (postdoc: default 进站 + the policy's stay, 2 years; extendable once by "
        "up to the policy's extension, 1 year), agreement or cohort end."
    )
    ended_on = _date("Actual 出站 / agreement end / move-out; not in the future.")
    outcome = fields.String(
        allow_none=True,
        validate=one_of(OUTCOMES, "outcome"),
        metadata={
            "description": "How it ended, by role: "
            + "; ".join(f"`{r}`: {', '.join(sorted(o))}" for r, o in ROLE_OUTCOMES.items())
            + ". A postdoc's `extended` means still in station after its one extension."
        },
    )
    extended = fields.Boolean(
        dump_only=True, metadata={"description": "The postdoc's stay was extended (once)."}
    )
    erased = fields.Boolean(
        dump_only=True,
        metadata={"description": "Personal fields erased on request; the entry still counts."},
    )


class MemberUpdateSchema(MemberSchema):
    """The fields of an entry that may change (every one optional; the role stays)."""

    class Meta:
        exclude = ("role",)


class RosterMetricsSchema(ma.Schema):
    """Live counts from a carrier's roster (public: counts only, never names)."""

    postdocs_in_station = fields.Integer(metadata={"description": "Postdocs in station today."})
    postdocs_completed = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": 'Postdocs who completed their stay (出站), by year: {"2024": 2}.'},
    )
    experts_active = fields.Integer(metadata={"description": "Experts under agreement today."})
    resident_enterprises = fields.Integer(metadata={"description": "Enterprises resident today."})
    graduated_enterprises = fields.Integer(
        metadata={"description": "Resident enterprises that graduated (all time)."}
    )


#: The sort keys of a carrier's roster; the list across carriers sorts by carrier too.
SORT_KEYS = ("name", "role", "started_on", "ended_on", "planned_end_on", "created_at")


class MemberQueryArgsSchema(ListArgsSchema):
    """Filters of a roster list."""

    role = fields.String(
        validate=one_of(ROLES, "roster role"), metadata={"description": "Entries of this role."}
    )
    active = fields.Boolean(
        metadata={"description": "true: on the roster today (started, not ended); false: not."}
    )
    sort = sort_field(SORT_KEYS)


class AllMemberQueryArgsSchema(MemberQueryArgsSchema):
    """Filters of the roster list across carriers."""

    carrier_id = IdArg(
        metadata={"description": "Entries of this carrier."},
    )
    sort = sort_field(("carrier_id", *SORT_KEYS))


class PrefillArgsSchema(ma.Schema):
    """The year to pre-fill."""

    year = fields.Integer(
        required=True,
        validate=validate.Range(min=1900, max=2999),
        metadata={"description": "The year reported on."},
    )


class PrefillSchema(ma.Schema):
    """Report metrics the roster answers for one year."""

    year = fields.Integer(metadata={"description": "The year reported on."})
    metrics = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        metadata={"description": "Metric key -> figure counted from the roster."},
    )


class RosterMismatchSchema(ma.Schema):
    """A report figure that disagrees with the roster."""

    metric = fields.String(metadata={"description": "The metric key."})
    reported = fields.Float(metadata={"description": "The figure in the report."})
    roster = fields.Float(metadata={"description": "The figure counted from the roster."})
