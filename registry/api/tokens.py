"""/tokens (the bureau admin manages API tokens) and /me (who the caller is)."""

from __future__ import annotations

from types import SimpleNamespace

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from registry import access, tokens
from registry.api.common import (
    LIST_HEADERS,
    check_if_match,
    error_responses,
    etag_of,
    etag_protected,
    paginate,
    read_with_etag,
)
from registry.db import apply_sort
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

blp = Blueprint(
    "tokens",
    __name__,
    url_prefix="/api/v1",
    description="Access: API tokens (bureau admin) and the caller's identity. A token is "
    "shown once, when created; only its hash is stored.",
)

ETAG = "t"
SORTS = {
    name: getattr(Token, name) for name in ("name", "created_at", "expires_at", "last_used_at")
}
#: The answer holding a new token must not be kept by a cache or a proxy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FEED_ETAG = "k"


def feed_key_etag_row(who: Principal) -> SimpleNamespace:
    """The feed key as a versioned object for ETags: the version is a piece of its hash."""
    return SimpleNamespace(id=who.id, version=(who.feed_key_hash or "none")[:12])


def get_feed_key_holder(principal_id: int) -> Principal:
    who = Principal.get_or_none(Principal.id == principal_id)
    if who is None or who.feed_key_hash is None:
        abort(404, message=f"Principal {principal_id} has no calendar feed key.")
    return who


def get_token(token_id: int) -> Token:
    token = tokens.with_principal().where(Token.id == token_id).first()
    if token is None:
        abort(404, message=f"No token {token_id}.")
    return token


@blp.route("/tokens")
class Tokens(MethodView):
    @blp.arguments(TokenQueryArgsSchema, location="query")
    @blp.response(200, TokenSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401, 403)
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
        query = apply_sort(query, args.get("sort"), SORTS, Token.created_at)
        rows, headers = paginate(query, args["page"], args["page_size"])
        return [tokens.token_as_dict(row) for row in rows], 200, headers

    @blp.arguments(TokenCreateSchema)
    @blp.response(201, TokenCreatedSchema)
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
        return (
            {**tokens.token_as_dict(row), "token": token},
            201,
            {
                "ETag": etag_of(ETAG, row),
                "Location": f"/api/v1/tokens/{row.id}",
                **NO_STORE,
            },
        )


@blp.route("/tokens/<id:token_id>")
class TokensById(MethodView):
    @blp.response(200, TokenSchema)
    @error_responses(blp, 401, 403, 404)
    def get(self, token_id):
        """Get one token (bureau admin; never the token itself)"""
        access.require_admin()
        row = get_token(token_id)
        return read_with_etag(ETAG, row, lambda: tokens.token_as_dict(row))

    @blp.response(204)
    @etag_protected(blp)
    @error_responses(blp, 401, 403, 404, 409)
    def delete(self, token_id):
        """Revoke a token (bureau admin; If-Match required, `*` accepted)

        The token stops working at once and stays listed, revoked, for the record. Revoking
        a revoked token is a 409.
        """
        access.require_admin()
        row = get_token(token_id)
        check_if_match(ETAG, row)
        tokens.revoke_token(row)
        return None


@blp.route("/feed-keys")
class FeedKeys(MethodView):
    @blp.arguments(FeedKeyArgsSchema, location="query")
    @blp.response(200, FeedKeyEntrySchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401, 403)
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
        rows, headers = paginate(query, args["page"], args["page_size"])
        return [tokens.feed_key_as_dict(row) for row in rows], 200, {**headers, **NO_STORE}


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
    @etag_protected(blp)
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
