"""Organisation schemas."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from registry import uscc
from registry.vocabulary import ORGANIZATION_KINDS
from schemas.common import (
    ContactSchema,
    Flag,
    ListArgsSchema,
    ResourceSchema,
    name_search,
    one_of,
    sort_field,
    validate_town,
)

#: A credit code as typed: 18 characters of its alphabet (either case, surrounding spaces
#: ignored), or empty for none. The check digit is a rule no pattern can say (422).
USCC_PATTERN = r"^\s*(?:[0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]{18})?\s*$"


class UsccField(fields.String):
    """A unified social credit code, normalised to upper case, of the form of a code; the
    check digit is verified by the schema (so that an admin override can waive it)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.metadata = {"pattern": USCC_PATTERN, **self.metadata}

    def _deserialize(self, value, attr, data, **kwargs):
        code = uscc.normalise(super()._deserialize(value, attr, data, **kwargs))
        reason = uscc.form_problem(code) if code else None
        if reason:
            raise ma.ValidationError(reason)
        return code or None


def checked_uscc(code: str | None) -> None:
    """A credit code whose check digit holds (422 saying why otherwise)."""
    reason = uscc.problem(code) if code else None
    if reason:
        raise ma.ValidationError(reason)


class OrganizationSchema(ResourceSchema):
    """A host or partner organisation."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    uscc = UsccField(
        allow_none=True,
        metadata={
            "description": "Unified social credit code (GB 32100-2015), 18 characters, "
            "check digit verified, unique; stored upper-case."
        },
    )
    uscc_override = Flag(
        load_only=True,
        metadata={
            "description": "Admins only: accept a code whose check digit fails "
            "(some early pilot codes are real); the audit trail records it."
        },
    )
    kind = fields.String(
        required=True,
        validate=one_of(ORGANIZATION_KINDS, "organisation kind"),
        metadata={"description": "One of " + ", ".join(ORGANIZATION_KINDS)},
    )
    town = fields.String(
        allow_none=True,
        validate=validate_town,
        metadata={
            "description": "Chinese name of a configured town or subdistrict, e.g. 浒山街道."
        },
    )
    address = fields.String(allow_none=True, validate=validate.Length(max=300))
    contact = fields.Nested(
        ContactSchema, allow_none=True, metadata={"description": "Contact person (never public)."}
    )

    @ma.validates_schema(skip_on_field_errors=False)
    def check_uscc(self, data, **kwargs):
        code = data.get("uscc")
        if code and not data.get("uscc_override"):
            reason = uscc.problem(code)
            if reason:
                raise ma.ValidationError({"uscc": [reason]})


class OrganizationQueryArgsSchema(ListArgsSchema):
    """Filters of the organisation list."""

    q = name_search("organisation names")
    kind = fields.String(
        validate=one_of(ORGANIZATION_KINDS, "organisation kind"),
        metadata={"description": "Only organisations of this kind."},
    )
    town = fields.String(
        validate=validate_town,
        metadata={"description": "Only organisations in this town or subdistrict (e.g. 周巷镇)."},
    )
    uscc = UsccField(metadata={"description": "The organisation with this credit code."})
    sort = sort_field(["name", "kind", "town", "created_at", "updated_at"])


organization_schema = OrganizationSchema()
