"""Schemas of /tokens and /me."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from registry.vocabulary import ROLES
from schemas.common import Id, IdArg, ListArgsSchema, ResourceSchema, Timestamp, one_of, sort_field

NAME = validate.Length(min=1, max=200)


class TokenSchema(ResourceSchema):
    """An API token as listed: never the token itself, nor its hash."""

    name = fields.String(metadata={"description": "Name of the token (shown in the audit trail)."})
    prefix = fields.String(
        metadata={"description": "The token's first characters, to recognise it."}
    )
    principal_id = fields.Integer(metadata={"description": "The principal the token acts as."})
    principal_name = fields.String(
        metadata={"description": "The principal's name (the audit trail's actor)."}
    )
    role = fields.String(metadata={"description": "One of " + ", ".join(ROLES)})
    organizations = fields.List(
        fields.Integer(), metadata={"description": "Organisations acted for (operators, partners)."}
    )
    active = fields.Boolean(metadata={"description": "Neither revoked nor expired."})
    expires_at = Timestamp(allow_none=True)
    revoked_at = Timestamp(allow_none=True)
    last_used_at = Timestamp(
        allow_none=True, metadata={"description": "Last use, to within five minutes."}
    )


class TokenCreatedSchema(TokenSchema):
    """A new token: the only answer that ever holds the token itself."""

    token = fields.String(
        metadata={"description": "The bearer token. Shown once: it is stored only as a hash."}
    )


class TokenCreateSchema(ma.Schema):
    """A new principal with its first token, or (with ``principal_id``) a further token for an
    existing principal, e.g. to rotate one."""

    name = fields.String(
        required=True,
        validate=NAME,
        metadata={"description": "Name of the token, and of the principal when one is created."},
    )
    role = fields.String(
        validate=one_of(ROLES, "role"),
        metadata={"description": "Role of a new principal: " + ", ".join(ROLES)},
    )
    organizations = fields.List(
        Id(),
        validate=validate.Length(max=100),
        metadata={
            "description": "Organisations a new operator or partner acts for (at least one)."
        },
    )
    principal_id = Id(metadata={"description": "Add the token to this existing principal instead."})
    expires_at = Timestamp(
        allow_none=True,
        metadata={"description": "When the token stops working (future; default never)."},
    )

    @ma.validates_schema
    def new_or_existing_principal(self, data, **kwargs):
        if "principal_id" in data:
            extra = sorted({"role", "organizations"} & set(data))
            if extra:
                raise ma.ValidationError(
                    {name: ["Not with principal_id: the principal has its own."] for name in extra}
                )
        elif "role" not in data:
            raise ma.ValidationError({"role": ["A new principal needs a role."]})


class TokenQueryArgsSchema(ListArgsSchema):
    """Filters of the token list."""

    role = fields.String(
        validate=one_of(ROLES, "role"),
        metadata={"description": "Tokens of principals of this role."},
    )
    active = fields.Boolean(metadata={"description": "Only active (true) or inactive tokens."})
    principal_id = IdArg(
        metadata={"description": "Tokens of this principal."},
    )
    sort = sort_field(["name", "created_at", "expires_at", "last_used_at"])


class MeSchema(ma.Schema):
    """Who the caller is (SPEC §5.1 ``me``)."""

    name = fields.String(metadata={"description": "The principal's name."})
    role = fields.String(metadata={"description": "One of " + ", ".join(ROLES)})
    organizations = fields.List(
        fields.Integer(), metadata={"description": "Organisations acted for."}
    )


class FeedKeyEntrySchema(ma.Schema):
    """A principal's calendar feed key as a bureau admin sees it: whose it is, never the key
    nor its hash."""

    principal_id = fields.Integer(metadata={"description": "The principal holding the key."})
    principal_name = fields.String(metadata={"description": "The principal's name."})
    role = fields.String(metadata={"description": "One of " + ", ".join(ROLES)})
    organizations = fields.List(
        fields.Integer(), metadata={"description": "Organisations acted for (operators, partners)."}
    )
    active = fields.Boolean(metadata={"description": "Always true: only live keys are listed."})


class FeedKeyArgsSchema(ListArgsSchema):
    """Filters of the feed key list."""

    principal_id = IdArg(metadata={"description": "Only this principal's key."})
    role = fields.String(
        validate=one_of(ROLES, "role"), metadata={"description": "Only principals of this role."}
    )
