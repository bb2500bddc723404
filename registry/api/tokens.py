"""/tokens (the bureau admin manages API tokens) and /me (who the caller is)."""

from __future__ import annotations

from types import SimpleNamespace

from flask.views import MethodView
from flask_smorest import abort

from registry import access, tokens
from registry.api.common import (
    NO_STORE,
    NO_STORE_HEADER,
    ResourceBlueprint,
    check_if_match,
    claim_etag_prefix,
    error_responses,
    etag_of,
    sort_columns,
)
from registry.models import Principal, Token
from schemas.access import (
    FeedKeyArgsSchema,
    FeedKeyEntrySchema,
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
#: The calendar feed key as a versioned object of its own (its version is a piece of its hash).
FEED_ETAG = claim_etag_prefix("k", "feed-key")


def feed_key_etag_row(who: Principal) -> SimpleNamespace:
    """The feed key as a versioned object for ETags: the version is a piece of its hash."""
    return SimpleNamespace(id=who.id, version=(who.feed_key_hash or "none")[:12])


def get_feed_key_holder(principal_id: int) -> Principal:
    who = Principal.get_or_none(Principal.id == principal_id)
    if who is None or who.feed_key_hash is None:
        abort(404, message=f"Principal {principal_id} has no calendar feed key.")
    return who


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
            active = access.active_token_condition()
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


@blp.route("/feed-keys")
class FeedKeys(MethodView):
    @blp.listing(FeedKeyArgsSchema, FeedKeyEntrySchema(many=True), 401, 403)
    def get(self, args):
        """List the calendar feed keys of every principal (bureau admin; never the keys)

        One entry per principal holding a key. Answers are `Cache-Control: no-store`.
        """
        access.require_admin()
        query = tokens.principals_with_feed_keys()
        if "principal_id" in args:
            query = query.where(Principal.id == args["principal_id"])
        if "role" in args:
            query = query.where(Principal.role == args["role"])
        if "q" in args:
            query = query.where(Principal.name.contains(args["q"]))
        body, status, headers = blp.page(
            query, args, lambda rows: [tokens.feed_key_as_dict(row) for row in rows]
        )
        return body, status, {**headers, **NO_STORE}


@blp.route("/feed-keys/<id:principal_id>")
class FeedKeysById(MethodView):
    @blp.response(200, FeedKeyEntrySchema)
    @error_responses(blp, 401, 403, 404)
    def get(self, principal_id):
        """Get one principal's calendar feed key entry (bureau admin; never the key)"""
        access.require_admin()
        who = get_feed_key_holder(principal_id)
        return (
            tokens.feed_key_as_dict(who),
            200,
            {"ETag": etag_of(FEED_ETAG, feed_key_etag_row(who)), **NO_STORE},
        )

    @blp.response(204)
    @blp.etag_protected
    @error_responses(blp, 401, 403, 404)
    def delete(self, principal_id):
        """Revoke a principal's calendar feed key (bureau admin; If-Match, `*` accepted)

        Feeds using the key answer 401 from now on; the principal may make a new one.
        The ETag is the one of `GET /feed-keys/{principal_id}` and of that principal's
        `GET /me/feed-key`.
        """
        access.require_admin()
        who = get_feed_key_holder(principal_id)
        check_if_match(FEED_ETAG, feed_key_etag_row(who))
        tokens.revoke_feed_key(who)
        return None


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    @error_responses(blp, 401)
    def get(self):
        """Who the caller is: name, role and organisations"""
        return access.me(access.require_reader())
