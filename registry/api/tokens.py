"""/tokens (the bureau admin manages API tokens) and /me (who the caller is)."""

from __future__ import annotations

from flask.views import MethodView

from registry import access, tokens
from registry.api.common import (
    NO_STORE,
    NO_STORE_HEADER,
    ResourceBlueprint,
    error_responses,
    sort_columns,
)
from registry.db import utcnow
from registry.models import Principal, Token
from schemas.access import (
    MeSchema,
    TokenCreatedSchema,
    TokenCreateSchema,
    TokenQueryArgsSchema,
    TokenSchema,
)

blp = ResourceBlueprint(
    "tokens",
    __name__,
    url_prefix="/api/v1",
    description="Access: API tokens (bureau admin) and the caller's identity. A token is "
    "shown once, when created; only its hash is stored.",
    etag_prefix="tk",
)

SORTS = sort_columns(TokenQueryArgsSchema, Token)


def get_token(token_id: int) -> Token:
    return blp.get_or_404(tokens.with_principal(), token_id, "token")


@blp.route("/tokens")
class Tokens(MethodView):
    @blp.listing(TokenQueryArgsSchema, TokenSchema(many=True), 401, 403)
    def get(self, args):
        """List tokens, revoked and expired ones too (bureau admin)"""
        access.require_admin()
        query = tokens.with_principal()
        if "role" in args:
            query = query.where(Principal.role == args["role"])
        if "principal_id" in args:
            query = query.where(Token.principal == args["principal_id"])
        if "active" in args:
            now = utcnow()
            active = Token.revoked_at.is_null() & (
                Token.expires_at.is_null() | (Token.expires_at > now)
            )
            query = query.where(active if args["active"] else ~active)
        if "q" in args:
            query = query.where(Token.name.contains(args["q"]) | Principal.name.contains(args["q"]))
        return blp.page(
            query,
            args,
            lambda rows: [tokens.token_as_dict(row) for row in rows],
            SORTS,
            Token.created_at,
        )

    @blp.arguments(TokenCreateSchema)
    @blp.write_response(TokenCreatedSchema, 201, headers=NO_STORE_HEADER)
    @error_responses(blp, 400, 401, 403, 413)
    def post(self, data):
        """Create a token, for a new principal or an existing one (bureau admin)

        The answer is the only one that holds the token itself (`token`); store it then.
        """
        access.require_admin()
        if "principal_id" in data:
            row, token = tokens.add_token(
                data["principal_id"], name=data["name"], expires_at=data.get("expires_at")
            )
        else:
            principal, token = tokens.create_principal_token(
                name=data["name"],
                role=data["role"],
                organization_ids=data.get("organizations", []),
                expires_at=data.get("expires_at"),
            )
            row = principal.tokens.get()
        row = get_token(row.id)
        return blp.created(
            {**tokens.token_as_dict(row), "token": token},
            row,
            f"{blp.url_prefix}/tokens/{row.id}",
            headers=NO_STORE,
        )


@blp.route("/tokens/<id:token_id>")
class TokensById(MethodView):
    @blp.read_response(TokenSchema)
    @error_responses(blp, 401, 403, 404)
    def get(self, token_id):
        """Get one token (bureau admin; never the token itself)"""
        access.require_admin()
        row = get_token(token_id)
        return blp.read(row, lambda: tokens.token_as_dict(row))

    @blp.response(204)
    @blp.etag_protected
    @error_responses(blp, 401, 403, 404, 409)
    def delete(self, token_id):
        """Revoke a token (bureau admin; If-Match required, `*` accepted)

        The token stops working at once and stays listed, revoked, for the record. Revoking
        a revoked token is a 409.
        """
        access.require_admin()
        get_token(token_id)
        tokens.revoke_token(token_id, blp.expected_version(token_id))
        return None


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    @error_responses(blp, 401)
    def get(self):
        """Who the caller is: name, role and organisations"""
        return access.me(access.require_reader())
