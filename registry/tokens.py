"""Principals and their tokens: creation and revocation, audited (the token never is)."""

from __future__ import annotations

import datetime as dt

from registry import access, audit
from registry.db import database, utcnow
from registry.models import Organization, Principal, Token
from registry.vocabulary import ROLES


class TokenError(ValueError):
    """A principal that cannot be created as asked."""


def token_as_dict(token: Token) -> dict:
    """A token as listed: never the token itself, nor its hash."""
    principal = token.principal
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "principal": {
            "id": principal.id,
            "name": principal.name,
            "role": principal.role,
            "organizations": list(principal.organization_ids or []),
        },
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
        "created_at": token.created_at,
        "updated_at": token.updated_at,
    }


def create_principal_token(
    *,
    name: str,
    role: str,
    organization_ids: list[int],
    expires_at: dt.datetime | None = None,
    actor: str | None = None,
) -> tuple[Principal, str]:
    """Create a principal with one token; return it and the token (shown once)."""
    if role not in ROLES:
        raise TokenError(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
    if not name.strip():
        raise TokenError("A token needs a name.")
    organization_ids = list(dict.fromkeys(organization_ids))
    if role in access.ORGANISATION_ROLES and not organization_ids:
        raise TokenError(f"A {role} acts for at least one organisation (--organization ID).")
    if role in access.BUREAU_ROLES and organization_ids:
        raise TokenError(f"A {role} acts for the bureau, not for organisations.")
    with database.atomic():
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
            raise TokenError(f"No organisation {', '.join(map(str, missing))}.")
        principal = Principal.create(
            name=name.strip(), role=role, organization_ids=organization_ids
        )
        row, token = access.issue_token(principal, name.strip(), expires_at)
        audit.record_change("token", "token", row.id, None, token_as_dict(row), actor=actor)
    return principal, token


def revoke_token(token: Token) -> Token:
    """Revoke a token (kept for the record, never usable again)."""
    with database.atomic():
        before = token_as_dict(token)
        token.revoked_at = token.revoked_at or utcnow()
        token.updated_at = utcnow()
        token.save()
        audit.record_change("token", "token", token.id, before, token_as_dict(token))
    return token


def feed_key_state(principal: Principal) -> dict:
    """Whether the principal has a calendar feed key (never the key nor its hash)."""
    return {"principal_id": principal.id, "active": principal.feed_key_hash is not None}


def issue_feed_key(principal: Principal) -> str:
    """Give ``principal`` a new calendar feed key, replacing any previous one; only its hash
    is stored and the key is returned once."""
    key = access.new_feed_key()
    with database.atomic():
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
    """Remove the principal's calendar feed key: feeds using it answer 401 from now on."""
    with database.atomic():
        before = feed_key_state(principal)
        principal.feed_key_hash = None
        principal.updated_at = utcnow()
        principal.save()
        audit.record_change("token", "principal", principal.id, before, feed_key_state(principal))
