"""Principals and their tokens: creation and revocation, audited (the token itself never is).

The token is returned once, by the function that creates it; only its SHA-256 and a short
prefix (to recognise it in a list) are stored, and the audit record holds neither the token
nor its hash.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from registry import access, audit, writes
from registry.db import utcnow, write_transaction
from registry.errors import DomainError, with_article
from registry.models import Organization, Principal, Token
from registry.vocabulary import ROLES


class TokenError(DomainError):
    """A principal or token that cannot be created as asked (422, naming the field)."""

    def __init__(self, message: str, field: str):
        super().__init__(422, "The request body has invalid fields.", {field: [message]})
        self.message = message


def token_as_dict(token: Token) -> dict:
    """A token as listed and audited: never the token itself, nor its hash."""
    principal = token.principal
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "principal_id": principal.id,
        "principal_name": principal.name,
        "role": principal.role,
        "organizations": sorted(principal.organization_ids or []),
        "active": access.is_active(token),
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
        "created_at": token.created_at,
        "updated_at": token.updated_at,
    }


def _check_expiry(expires_at: dt.datetime | None) -> None:
    if expires_at is not None and expires_at <= utcnow():
        raise TokenError("The expiry must lie in the future.", "expires_at")


def _check_name(name: str) -> str:
    if not name.strip():
        raise TokenError("A token needs a name.", "name")
    return name.strip()


def check_principal(
    name: str, role: str, organization_ids: list[int]
) -> tuple[str, str, list[int]]:
    """A new principal's name, role and organisations, checked (422 naming the field): a
    known role, a name, organisations for an operator or partner and none for the bureau."""
    if role not in ROLES:
        raise TokenError(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.", "role")
    name = _check_name(name)
    organization_ids = list(dict.fromkeys(organization_ids))
    if role in access.ORGANISATION_ROLES and not organization_ids:
        raise TokenError(
            f"{with_article(role, True)} acts for at least one organisation (--organization ID).",
            "organizations",
        )
    if role in access.BUREAU_ROLES and organization_ids:
        raise TokenError(
            f"{with_article(role, True)} acts for the bureau, not for organisations.",
            "organizations",
        )
    return name, role, organization_ids


def check_organizations_exist(organization_ids: list[int]) -> None:
    """422 naming the organisations of ``organization_ids`` that do not exist."""
    found = (
        {
            org.id
            for org in Organization.select(Organization.id).where(
                Organization.id.in_(organization_ids)
            )
        }
        if organization_ids
        else set()
    )
    missing = [org_id for org_id in organization_ids if org_id not in found]
    if missing:
        raise TokenError(f"No organisation {', '.join(map(str, missing))}.", "organizations")


def create_principal_token(
    *,
    name: str,
    role: str,
    organization_ids: list[int],
    expires_at: dt.datetime | None = None,
    actor: str | None = None,
) -> tuple[Principal, str]:
    """Create a principal named ``name`` with one token of the same name; return the
    principal and the token (shown once). ``expires_at`` is naive UTC."""
    name, role, organization_ids = check_principal(name, role, organization_ids)
    _check_expiry(expires_at)
    with write_transaction():
        check_organizations_exist(organization_ids)
        principal = Principal.create(name=name, role=role, organization_ids=organization_ids)
        row, token = access.issue_token(principal, name, expires_at)
        audit.record_change("token", "token", row.id, None, token_as_dict(row), actor=actor)
    return principal, token


def add_token(
    principal_id: int,
    *,
    name: str,
    expires_at: dt.datetime | None = None,
    actor: str | None = None,
) -> tuple[Token, str]:
    """A further token for an existing principal (to rotate one without a gap); returns the
    row and the token (shown once)."""
    name = _check_name(name)
    _check_expiry(expires_at)
    with write_transaction():
        principal = Principal.get_or_none(Principal.id == principal_id)
        if principal is None:
            raise TokenError(f"No principal {principal_id}.", "principal_id")
        row, token = access.issue_token(principal, name, expires_at)
        audit.record_change("token", "token", row.id, None, token_as_dict(row), actor=actor)
    return row, token


def revoke_token(token_id: int, expected: Collection[int] | None = writes.ANY_VERSION) -> Token:
    """Revoke a token: kept for the record, never usable again (409 when already revoked,
    412 unless it is at an ``expected`` version).

    The principal's calendar feed key dies with it: the key was made with one of the
    principal's tokens, and a revoked token means that access ends (the audit record says
    ``feed_key_revoked``). A principal whose other tokens live makes a new key."""
    with writes.guarded(Token, token_id, expected, "token", with_principal()) as edit:
        token = edit.row
        if token.revoked_at is not None:
            raise DomainError(409, f"Token {token.id} was already revoked.")
        before = token_as_dict(token)
        token.revoked_at = utcnow()
        edit.save()
        after = token_as_dict(token)
        if token.principal.feed_key_hash is not None:
            Principal.update(feed_key_hash=None, updated_at=token.revoked_at).where(
                Principal.id == token.principal.id
            ).execute()
            token.principal.feed_key_hash = None
            after["feed_key_revoked"] = True
        audit.record_change("token", "token", token.id, before, after)
    return token


def with_principal():
    """Tokens joined with their principal (one query for a page)."""
    return Token.select(Token, Principal).join(Principal)


def feed_key_state(principal: Principal) -> dict:
    """Whether the principal has a calendar feed key (never the key nor its hash)."""
    return {"principal_id": principal.id, "active": principal.feed_key_hash is not None}


def feed_key_as_dict(principal: Principal) -> dict:
    """A principal's calendar feed key as an admin lists it: whose it is, never the key."""
    return {
        **feed_key_state(principal),
        "principal_name": principal.name,
        "role": principal.role,
        "organizations": sorted(principal.organization_ids or []),
    }


def principals_with_feed_keys():
    """Principals holding a calendar feed key, by id."""
    return Principal.select().where(Principal.feed_key_hash.is_null(False)).order_by(Principal.id)


def issue_feed_key(principal: Principal) -> str:
    """Give ``principal`` a new calendar feed key, replacing any previous one; only its hash
    is stored and the key is returned once."""
    key = access.new_feed_key()
    with write_transaction():
        before = feed_key_state(principal)
        principal.feed_key_hash = access.hash_token(key)
        principal.updated_at = utcnow()
        principal.save()
        audit.record_change(
            "token",
            "principal",
            principal.id,
            before,
            {**feed_key_state(principal), "rotated": before["active"]},
        )
    return key


def revoke_feed_key(principal: Principal) -> None:
    """Remove the principal's calendar feed key: feeds using it answer 401 from now on (the
    principal's own request, or a bureau admin's)."""
    with write_transaction():
        before = feed_key_state(principal)
        principal.feed_key_hash = None
        principal.updated_at = utcnow()
        principal.save()
        audit.record_change("token", "principal", principal.id, before, feed_key_state(principal))
