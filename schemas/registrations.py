"""Schemas of /registrations: partner self-registration and bureau review."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from registry.vocabulary import (
    CARRIER_STATUSES,
    LEVELS,
    ORGANIZATION_KINDS,
    PARTNER_ROLES,
    REGISTRATION_TYPES,
)
from schemas.carriers import CarrierSchema
from schemas.common import (
    ContactSchema,
    Id,
    IdArg,
    ListArgsSchema,
    Timestamp,
    name_search,
    one_of,
    sort_field,
)
from schemas.organizations import UsccField, checked_uscc

ORGANISATION_NAME = validate.Length(min=1, max=200)


class RegistrationPartnerSchema(ma.Schema):
    """A partner organisation of a registration: by id (a partner: only its own) or by credit
    code with its name (any organisation; linked, or created, when the bureau approves)."""

    organization_id = Id(
        allow_none=True,
        metadata={"description": "Its id: the bureau any, a partner only its own organisations."},
    )
    uscc = UsccField(
        validate=checked_uscc,
        metadata={"description": "Its unified social credit code (check digit verified)."},
    )
    name = fields.String(
        validate=ORGANISATION_NAME,
        metadata={
            "description": "Its name, with `uscc`: kept as typed, the name of the organisation "
            "created on approval when none has the code."
        },
    )
    kind = fields.String(
        load_only=True,
        validate=one_of(ORGANIZATION_KINDS, "organisation kind"),
        metadata={"description": "With `uscc`: its kind if created on approval (enterprise)."},
    )
    role = fields.String(
        load_default="other",
        validate=one_of(PARTNER_ROLES, "partner role"),
        metadata={"description": "One of " + ", ".join(PARTNER_ROLES)},
    )

    @ma.validates_schema
    def one_way_to_name(self, data, **kwargs):
        by_id, by_code = data.get("organization_id") is not None, bool(data.get("uscc"))
        if by_id == by_code:
            raise ma.ValidationError(
                "Name the organisation by organization_id or by uscc (with its name).",
                "organization_id",
            )


APPROVAL_STATUSES = ["applying", "accredited"]


class RegistrationSchema(CarrierSchema):
    """A joint training base registered by a partner: a carrier in status `submitted` until
    the bureau reviews it, with its host, partners, contact and proposed level."""

    type = fields.String(
        load_default=REGISTRATION_TYPES[0],
        validate=one_of(REGISTRATION_TYPES, "carrier type a partner may register"),
        metadata={"description": "One of " + ", ".join(REGISTRATION_TYPES) + " (the default)."},
    )
    level = fields.String(
        required=True,
        validate=one_of(LEVELS, "level"),
        metadata={"description": "The proposed level; the bureau decides on approval."},
    )
    host_organization_id = Id(
        allow_none=True,
        metadata={
            "description": "The host's id: the bureau any organisation, a partner only its own "
            "(others by `host_uscc`). Null on reads while a host named by code awaits review."
        },
    )
    host_uscc = UsccField(
        validate=checked_uscc,
        metadata={
            "description": "The host's unified social credit code, instead of "
            "`host_organization_id` (with `host_name`). An organisation that is not the "
            "partner's own is linked, or created, when the bureau approves."
        },
    )
    host_name = fields.String(
        validate=ORGANISATION_NAME,
        metadata={"description": "The host's name, with `host_uscc` (kept as typed)."},
    )
    host_kind = fields.String(
        load_only=True,
        validate=one_of(ORGANIZATION_KINDS, "organisation kind"),
        metadata={"description": "With `host_uscc`: the kind if created (enterprise)."},
    )
    partners = fields.List(
        fields.Nested(RegistrationPartnerSchema),
        required=True,
        validate=validate.Length(min=1, max=50),
        metadata={
            "description": "The university and enterprise partners, with their role; "
            "organisations that are not yours by `uscc` and `name`."
        },
    )
    contact = fields.Nested(
        ContactSchema,
        required=True,
        metadata={"description": "Who the bureau contacts about the registration (not public)."},
    )
    valid_until = fields.Date(dump_only=True, allow_none=True)
    next_evaluation_on = fields.Date(dump_only=True, allow_none=True)
    report_due = fields.String(dump_only=True, allow_none=True)
    submitted_by = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Name of the principal that submitted it."},
    )
    submitted_by_organization_id = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The organisation the submitting partner acted for: only its "
            "partners edit or withdraw the registration (null when the bureau submitted it)."
        },
    )
    submitted_at = Timestamp(dump_only=True, allow_none=True)
    review_comment = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The reviewer's comment; the reason of a rejection."},
    )
    reviewed_at = Timestamp(dump_only=True, allow_none=True)
    reviewed_by = fields.String(dump_only=True, allow_none=True)

    @ma.validates_schema
    def one_host(self, data, partial=False, **kwargs):
        by_id = data.get("host_organization_id") is not None
        by_code = bool(data.get("host_uscc"))
        if by_id and by_code:
            raise ma.ValidationError("Name the host once.", "host_uscc")
        named = "host_organization_id" in data or "host_uscc" in data
        if not (by_id or by_code) and (named or not partial):
            raise ma.ValidationError(
                "Name the host by host_organization_id or host_uscc.", "host_organization_id"
            )
        if data.get("host_name") and not by_code:
            raise ma.ValidationError("Only with host_uscc.", "host_name")

    @ma.validates("contact")
    def contact_reachable(self, value, **kwargs):
        if not value or not value.get("name") or not (value.get("phone") or value.get("email")):
            raise ma.ValidationError("A contact needs a name and a phone number or an email.")


class RegistrationQueryArgsSchema(ListArgsSchema):
    """Filters of the registration list."""

    q = name_search("registration names and their hosts' names")
    status = fields.String(
        validate=one_of(CARRIER_STATUSES, "status"),
        metadata={"description": "`submitted` lists those awaiting review."},
    )
    organization_id = IdArg(
        metadata={"description": "Registrations naming this organisation."},
    )
    sort = sort_field(["name", "status", "level", "created_at", "reviewed_at"])


class ApprovalSchema(ma.Schema):
    """Approve a registration: it becomes `applying`, or `accredited` with the accreditation."""

    status = fields.String(
        required=True,
        validate=one_of(APPROVAL_STATUSES, "approval status"),
        metadata={"description": "`applying` (accreditation applied for) or `accredited`."},
    )
    occurred_on = fields.Date(
        metadata={"description": "Date of the milestone recorded (default today); not future."}
    )
    level = fields.String(
        validate=one_of(LEVELS, "level"),
        metadata={"description": "Accredited level (default the proposed one)."},
    )
    certificate_no = fields.String(validate=validate.Length(min=1, max=100))
    valid_until = fields.Date(
        metadata={"description": "End of validity (default from the evaluation policy)."}
    )
    comment = fields.String(
        validate=validate.Length(max=2000),
        metadata={"description": "The reviewer's comment (kept as review_comment)."},
    )

    @ma.validates_schema
    def accreditation_fields_need_accredited(self, data, **kwargs):
        from registry.clock import today

        errors = {}
        if data.get("status") == "applying":
            for name in ("level", "certificate_no", "valid_until"):
                if name in data:
                    errors[name] = ["Only with status accredited."]
        occurred_on = data.get("occurred_on") or today()
        if occurred_on > today():
            errors["occurred_on"] = ["Cannot be in the future."]
        if data.get("valid_until") and data["valid_until"] <= occurred_on:
            errors["valid_until"] = ["Must be after occurred_on."]
        if errors:
            raise ma.ValidationError(errors)


class RejectionSchema(ma.Schema):
    """Reject a registration, with the reason the partner will read."""

    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "Why the registration is refused (required)."},
    )

    @ma.validates("reason")
    def not_blank(self, value, **kwargs):
        if not value.strip():
            raise ma.ValidationError("Give a reason.")
