"""Carrier schemas."""

from __future__ import annotations

import itertools

import marshmallow as ma
from marshmallow import fields, validate

from registry.directory import GROUP_KEYS, HIDDEN_SORTS, SORT_KEYS
from registry.vocabulary import CARRIER_STATUSES, CARRIER_TYPES, LEVELS, PARTNER_ROLES
from schemas.common import (
    ContactSchema,
    Id,
    IdArg,
    ListArgsSchema,
    ResourceSchema,
    name_search,
    not_future,
    one_of,
    sort_field,
    validate_town,
)
from schemas.members import RosterMetricsSchema
from schemas.policies import valid_month_day

TAG = validate.Length(min=1, max=60)
#: Carrier fields a list may be sorted by (declared in the directory, with their rules).
CARRIER_SORTS = SORT_KEYS
#: Said of a filter or sort on a non-public field (registry.directory.HIDDEN_FILTERS).
BUREAU_ONLY = (
    " Bureau only: the field is not public, so anyone else gets a 403 naming it, "
    "with or without `as_of`."
)


def carrier_sort_field() -> fields.String:
    """The list's ``sort``, saying which keys rank and which are the bureau's only."""
    field = sort_field(list(CARRIER_SORTS))
    field.metadata["description"] += (
        " `level` sorts national > provincial > municipal > county, `status` in the order "
        "of the status vocabulary; nulls last either way, then by id. Sorting by "
        + ", ".join(f"`{key}`" for key in sorted(HIDDEN_SORTS))
        + " is for the bureau only (403 naming the field for anyone else)."
    )
    return field


class PartnerSchema(ma.Schema):
    """A partner organisation of a carrier and its role."""

    organization_id = Id(required=True)
    role = fields.String(
        load_default="other",
        validate=one_of(PARTNER_ROLES, "partner role"),
        metadata={"description": "One of " + ", ".join(PARTNER_ROLES)},
    )
    name = fields.String(dump_only=True, metadata={"description": "The organisation's name."})


class HostSummarySchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    uscc = fields.String(allow_none=True)


class CarrierSchema(ResourceSchema):
    """A talent carrier. Lifecycle fields are read-only: they change through milestones."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type = fields.String(
        required=True,
        validate=one_of(CARRIER_TYPES, "carrier type"),
        metadata={"description": "One of " + ", ".join(CARRIER_TYPES)},
    )
    level = fields.String(
        required=True,
        validate=one_of(LEVELS, "level"),
        metadata={"description": "national > provincial > municipal > county"},
    )
    status = fields.String(
        dump_only=True,
        metadata={"description": "Lifecycle status (read-only): " + ", ".join(CARRIER_STATUSES)},
    )
    host_organization_id = Id(required=True)
    host_organization = fields.Nested(HostSummarySchema, dump_only=True)
    partners = fields.List(
        fields.Nested(PartnerSchema),
        validate=validate.Length(max=50),
        metadata={"description": "Partner organisations with their role."},
    )
    town = fields.String(allow_none=True, validate=validate_town)
    tags = fields.List(fields.String(validate=TAG), validate=validate.Length(max=30))
    description = fields.String(allow_none=True, validate=validate.Length(max=10_000))
    lead_person = fields.String(allow_none=True, validate=validate.Length(max=100))
    established_on = fields.Date(
        allow_none=True,
        validate=not_future,
        metadata={"description": "When the carrier was set up; not in the future."},
    )
    accredited_on = fields.Date(dump_only=True, allow_none=True)
    certificate_no = fields.String(dump_only=True, allow_none=True)
    valid_until = fields.Date(
        allow_none=True,
        metadata={
            "description": "End of validity: from the accreditation milestone, else accredited_on "
            "+ term_years. Writing it sets an override; null clears the override."
        },
    )
    next_evaluation_on = fields.Date(
        allow_none=True,
        metadata={
            "description": "Next evaluation: last accreditation or passing term evaluation + "
            "term_years. Writing it sets an override; null clears the override."
        },
    )
    report_due = fields.String(
        allow_none=True,
        validate=valid_month_day,
        metadata={
            "description": "MM-DD by which this carrier's annual report is due, when the bureau "
            "set one for it (e.g. in its funding agreement); null follows its evaluation "
            "policy's report_due. Writing it sets an override; null clears it."
        },
    )
    next_report_due_on = fields.Date(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "When the oldest missing annual report is due (report_due of the "
            "following year)."
        },
    )
    open_alert_count = fields.Integer(dump_only=True)
    roster_metrics = fields.Nested(
        RosterMetricsSchema,
        dump_only=True,
        metadata={"description": "Live counts from the carrier's roster (public)."},
    )
    as_of = fields.Date(
        dump_only=True,
        metadata={
            "description": "Present when the request asked for a past date: status, level, "
            "accredited_on, certificate_no and the derived dates are those of that day."
        },
    )
    attributes = fields.Dict(
        keys=fields.String(validate=validate.Length(max=100)),
        metadata={"description": "Free attributes (JSON object)."},
    )
    contact = fields.Nested(
        ContactSchema, allow_none=True, metadata={"description": "Contact person (never public)."}
    )

    @ma.validates("partners")
    def no_duplicate_partners(self, value, **kwargs):
        # A registration's partner may be named by credit code instead (organization_id null).
        ids = [partner.get("organization_id") or partner.get("uscc") for partner in value]
        if len(ids) != len(set(ids)):
            raise ma.ValidationError("An organisation can be a partner only once.")


AS_OF = {
    "description": "Answer as of this past date (YYYY-MM-DD, not in the future): status, "
    "level, accreditation and derived dates replayed from the milestones dated on or before "
    "it; lifecycle filters (level, level_min, status, accredited_from/to, *_due_before) and "
    "sorts apply to that state. Carriers whose history had not begun are left out. Apart "
    "from the bureau, a caller sees on that day its own carriers and, of today's public "
    "directory, those whose status on that day was public (accredited)."
}


class CarrierReadArgsSchema(ma.Schema):
    """Options of a single carrier read."""

    as_of = fields.Date(validate=not_future, metadata=AS_OF)


class CarrierQueryArgsSchema(ListArgsSchema):
    """Filters of the carrier list; each filter is named after the field."""

    q = name_search("carrier names and their host organisations' names")
    as_of = fields.Date(validate=not_future, metadata=AS_OF)
    accredited_from = fields.Date(
        metadata={"description": "Carriers accredited (accredited_on) on or after this date."}
    )
    accredited_to = fields.Date(
        metadata={"description": "Carriers accredited (accredited_on) on or before this date."}
    )

    type = fields.String(
        validate=one_of(CARRIER_TYPES, "carrier type"),
        metadata={"description": "Only carriers of this type."},
    )
    level = fields.String(
        validate=one_of(LEVELS, "level"), metadata={"description": "Only carriers of this level."}
    )
    level_min = fields.String(
        validate=one_of(LEVELS, "level"),
        metadata={"description": "This level or higher, e.g. provincial = provincial or national."},
    )
    status = fields.String(
        validate=one_of(CARRIER_STATUSES, "status"),
        metadata={"description": "Only carriers in this lifecycle status."},
    )
    town = fields.String(
        validate=validate_town,
        metadata={"description": "Only carriers in this town or subdistrict (e.g. 周巷镇)."},
    )
    organization_id = IdArg(
        metadata={"description": "Carriers hosted by, or partnered with, this organisation."},
    )
    tag = fields.String(validate=TAG, metadata={"description": "Only carriers with this tag."})
    evaluation_due_before = fields.Date(
        metadata={
            "description": "Carriers whose next evaluation (next_evaluation_on) falls on or "
            "before this date." + BUREAU_ONLY
        }
    )
    report_due_before = fields.Date(
        metadata={
            "description": "Carriers whose next annual report is due (next_report_due_on) on "
            "or before this date." + BUREAU_ONLY
        }
    )
    sort = carrier_sort_field()


class StatsArgsSchema(CarrierQueryArgsSchema):
    """Grouping of the carrier counts, with the list's filters."""

    group_by = fields.String(
        load_default="type,level",
        metadata={
            "description": "Comma-separated, each at most once: any of "
            + ", ".join(GROUP_KEYS)
            + ".",
            # Every ordering of every non-empty set of distinct keys (64 for four keys).
            "pattern": "^(?:"
            + "|".join(
                ",".join(keys)
                for size in range(1, len(GROUP_KEYS) + 1)
                for keys in itertools.permutations(GROUP_KEYS, size)
            )
            + ")$",
        },
    )

    @ma.validates("group_by")
    def check_group_by(self, value, **kwargs):
        keys = value.split(",")
        bad = [key for key in keys if key not in GROUP_KEYS]
        if bad or len(set(keys)) != len(keys):
            raise ma.ValidationError(
                "Group by a comma-separated list of distinct " + ", ".join(GROUP_KEYS) + "."
            )


class StatsSchema(ma.Schema):
    total = fields.Integer()
    groups = fields.List(
        fields.Dict(),
        metadata={"description": "One object per group: the group_by fields and `count`."},
    )


carrier_schema = CarrierSchema()
