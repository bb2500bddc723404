"""People who sign in to the pages (issue 13): invitations, passwords, sessions, disabling.

A person is a :class:`~registry.models.Principal` with a password: the same principal the
API's tokens act for, so every rule of ``registry.access`` applies to their pages as it
applies to their tokens. A bureau admin invites a person (a page, or ``registry invite``),
which yields a one-time link valid for ``REGISTRY_INVITE_DAYS``; the person sets a password
there (werkzeug's scrypt, memory-hard). Disabling a person moves their session generation
on (every page session ends) and makes their tokens and feed key unusable
(``access.is_enabled``, checked where a token is resolved).

Failed sign-ins are counted in the database per account name and per client address, so
every worker process counts the same failures; over the limit, sign-ins are refused until
the window has passed.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import secrets
from dataclasses import dataclass

import peewee as pw
from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from registry import access, audit, tokens
from registry.db import utcnow, write_transaction
from registry.errors import DomainError
from registry.models import Principal, SignInAttempt, SiteSecret

#: The shortest password accepted.
MIN_PASSWORD_LENGTH = 10
#: The hashing scheme of passwords: scrypt, memory-hard (werkzeug's default parameters).
PASSWORD_METHOD = "scrypt"
INVITE_PREFIX = "cri_"


@functools.cache
def _dummy_hash(method: str) -> str:
    """A hash to check a password against when no such person exists, so that an unknown
    name takes as long to refuse as a wrong password (made once, when first needed)."""
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


class SignInRefused(DomainError):
    """Sign-in refused: wrong name or password (401), or too many failures (429)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None):
        super().__init__(status, message)
        self.retry_after = retry_after


def _person_error(message: str, field: str) -> DomainError:
    return DomainError(422, "The request body has invalid fields.", {field: [message]})


# --- the session signing key ------------------------------------------------------------


def site_secret(name: str) -> str:
    """The shared random secret ``name``, created on first use (the first process to ask
    makes it; every other one reads the same)."""
    found = SiteSecret.get_or_none(SiteSecret.name == name)
    if found is None:
        with write_transaction():
            SiteSecret.insert(
                name=name, value=secrets.token_urlsafe(48)
            ).on_conflict_ignore().execute()
        found = SiteSecret.get(SiteSecret.name == name)
    return found.value


# --- people -----------------------------------------------------------------------------


def is_person(principal: Principal) -> bool:
    """Whether ``principal`` signs in to the pages (has a password or a pending invitation)."""
    return principal.password_hash is not None or principal.invite_hash is not None


def person_as_dict(principal: Principal) -> dict:
    """A person as audited and listed: never the password hash nor the invitation."""
    return {
        "id": principal.id,
        "name": principal.name,
        "role": principal.role,
        "organizations": sorted(principal.organization_ids or []),
        "password_set": principal.password_hash is not None,
        "invited_until": principal.invite_expires_at,
        "disabled_at": principal.disabled_at,
    }


def people():
    """Every person (principals with a password or an invitation), by name."""
    query = Principal.select().where(
        Principal.password_hash.is_null(False) | Principal.invite_hash.is_null(False)
    )
    return query.order_by(Principal.name, Principal.id)


def _new_invitation(principal: Principal, days: int | None) -> str:
    days = current_app.config["INVITE_DAYS"] if days is None else days
    token = INVITE_PREFIX + secrets.token_urlsafe(32)
    principal.invite_hash = access.hash_token(token)
    principal.invite_expires_at = utcnow() + dt.timedelta(days=days)
    return token


def invite(
    *,
    name: str,
    role: str,
    organization_ids: list[int],
    actor: str | None = None,
    days: int | None = None,
) -> tuple[Principal, str]:
    """Create a person named ``name`` acting as ``role`` for ``organization_ids`` and return
    them with the invitation token (shown once: the link carries it). Names of people are
    unique: they are what people sign in with."""
    name, role, organization_ids = tokens.check_principal(name, role, organization_ids)
    with write_transaction():
        if people().where(pw.fn.LOWER(Principal.name) == name.lower()).exists():
            raise _person_error(f"有人已使用名称“{name}”。", "name")
        tokens.check_organizations_exist(organization_ids)
        principal = Principal(name=name, role=role, organization_ids=organization_ids)
        token = _new_invitation(principal, days)
        principal.save()
        audit.record_change(
            "create", "principal", principal.id, None, person_as_dict(principal), actor=actor
        )
    return principal, token


def reinvite(principal_id: int, actor: str | None = None) -> tuple[Principal, str]:
    """A fresh invitation link for a person (a forgotten password, an expired link): the
    old link and the password stop working."""
    with write_transaction():
        principal = _person(principal_id)
        before = person_as_dict(principal)
        token = _new_invitation(principal, None)
        principal.password_hash = None
        principal.session_generation += 1
        principal.updated_at = utcnow()
        principal.save()
        audit.record_change(
            "update", "principal", principal.id, before, person_as_dict(principal), actor=actor
        )
    return principal, token


def _person(principal_id: int) -> Principal:
    principal = Principal.get_or_none(Principal.id == principal_id)
    if principal is None or not is_person(principal):
        raise DomainError(404, f"No person {principal_id}.")
    return principal


def invited(token: str) -> Principal | None:
    """The person an invitation token was made for, while it is valid (unused, unexpired,
    the person not disabled); None otherwise."""
    if not token.startswith(INVITE_PREFIX):
        return None
    digest = access.hash_token(token)
    found = Principal.get_or_none(Principal.invite_hash == digest)
    if found is None or not hmac.compare_digest(found.invite_hash, digest):
        return None
    if found.invite_expires_at is None or found.invite_expires_at <= utcnow():
        return None
    if not access.is_enabled(found):
        return None
    return found


def check_new_password(password: str, again: str) -> dict[str, list[str]]:
    """Field errors of a new password (empty when it is acceptable)."""
    errors: dict[str, list[str]] = {}
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [f"密码至少 {MIN_PASSWORD_LENGTH} 个字符。"]
    elif password != again:
        errors["password_again"] = ["两次输入的密码不一致。"]
    return errors


def set_password(token: str, password: str) -> Principal:
    """Use an invitation: set the person's password; the link never works again."""
    with write_transaction():
        principal = invited(token)
        if principal is None:
            raise DomainError(404, "邀请链接无效、已使用或已过期。")
        before = person_as_dict(principal)
        principal.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)
        principal.password_set_at = utcnow()
        principal.invite_hash = None
        principal.invite_expires_at = None
        principal.updated_at = principal.password_set_at
        principal.save()
        audit.record_change(
            "update",
            "principal",
            principal.id,
            before,
            person_as_dict(principal),
            actor=principal.name,
        )
    return principal


def disable(principal_id: int, actor: str | None = None) -> Principal:
    """Disable a person: their page sessions end at once (the session generation moves on)
    and their tokens and calendar feed key stop working (``access.is_enabled``)."""
    with write_transaction():
        principal = _person(principal_id)
        if principal.disabled_at is not None:
            raise DomainError(409, f"{principal.name} 已停用。")
        before = person_as_dict(principal)
        principal.disabled_at = utcnow()
        principal.session_generation += 1
        principal.invite_hash = None
        principal.invite_expires_at = None
        principal.updated_at = principal.disabled_at
        principal.save()
        audit.record_change(
            "update", "principal", principal.id, before, person_as_dict(principal), actor=actor
        )
    return principal


def principal_for_session(principal_id, generation) -> Principal | None:
    """The person a page session names, while it is still valid: the person exists, is not
    disabled, has a password, and the session is of their current generation."""
    if not isinstance(principal_id, int) or not isinstance(generation, int):
        return None
    found = Principal.get_or_none(Principal.id == principal_id)
    if found is None or found.password_hash is None or not access.is_enabled(found):
        return None
    if found.session_generation != generation:
        return None
    return found


# --- signing in -------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """The sign-in limits of the configuration."""

    account: int
    address: int
    window: dt.timedelta

    @classmethod
    def configured(cls) -> Limits:
        config = current_app.config
        return cls(
            account=config["SIGN_IN_MAX_FAILURES"],
            address=config["SIGN_IN_MAX_ADDRESS_FAILURES"],
            window=dt.timedelta(minutes=config["SIGN_IN_WINDOW_MINUTES"]),
        )


def _account_key(name: str) -> str:
    return name.strip().lower()[:200]


def _retry_after(kind: str, key: str, limit: int, now: dt.datetime, window: dt.timedelta):
    """Seconds until ``key`` is under its limit again, or None when it is under it now."""
    recent = (
        SignInAttempt.select(SignInAttempt.failed_at)
        .where(
            (SignInAttempt.kind == kind)
            & (SignInAttempt.key == key)
            & (SignInAttempt.failed_at > now - window)
        )
        .order_by(SignInAttempt.failed_at.desc())
        .limit(limit)
    )
    times = [row.failed_at for row in recent]
    if len(times) < limit:
        return None
    # The oldest of the last ``limit`` failures leaving the window frees one attempt.
    return max(1, int((times[-1] + window - now).total_seconds()) + 1)


def sign_in(name: str, password: str, address: str) -> Principal:
    """The person ``name`` when ``password`` is theirs; :class:`SignInRefused` otherwise
    (401 for a wrong name or password, alike; 429 with ``retry_after`` seconds while the
    account or the address has failed too often)."""
    limits = Limits.configured()
    now = utcnow()
    account = _account_key(name)
    address = (address or "unknown")[:200]
    waits = [
        _retry_after("account", account, limits.account, now, limits.window),
        _retry_after("address", address, limits.address, now, limits.window),
    ]
    wait = max((seconds for seconds in waits if seconds is not None), default=None)
    if wait is not None:
        minutes = -(-wait // 60)
        raise SignInRefused(429, f"登录失败次数过多，请 {minutes} 分钟后再试。", retry_after=wait)
    found = (
        people()
        .where(
            (pw.fn.LOWER(Principal.name) == account)
            & Principal.password_hash.is_null(False)
            & Principal.disabled_at.is_null()
        )
        .first()
    )
    valid = check_password_hash(
        found.password_hash if found else _dummy_hash(PASSWORD_METHOD), password
    )
    if found is None or not valid:
        with write_transaction():
            # Failures older than the window no longer count: the table keeps only the window.
            SignInAttempt.delete().where(SignInAttempt.failed_at <= now - limits.window).execute()
            SignInAttempt.insert_many(
                [
                    {"kind": "account", "key": account, "failed_at": now},
                    {"kind": "address", "key": address, "failed_at": now},
                ]
            ).execute()
        raise SignInRefused(401, "名称或密码不正确。")
    with write_transaction():
        SignInAttempt.delete().where(
            (SignInAttempt.kind == "account") & (SignInAttempt.key == account)
        ).execute()
    return found
