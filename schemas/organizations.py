"""Organisation schemas."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from registry import uscc
from registry.vocabulary import ORGANIZATION_KINDS
from schemas.common import (
    ContactSchema,
    ListArgsSchema,
    ResourceSchema,
    name_search,
    one_of,
    sort_field,
    validate_town,
)


class UsccField(fields.String):
    """A unified social credit code, normalised to upper case; the check digit is verified
    by the schema (so that an admin override can waive it)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        return uscc.normalise(text) or None


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
    uscc_override = fields.Boolean(
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
