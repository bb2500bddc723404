"""Principals and their API tokens (SPEC §6)."""

from __future__ import annotations

import peewee as pw

from registry.db import BaseModel, utcnow
from registry.models.fields import JSONField


class Principal(BaseModel):
    """Who acts: a name, a role and, for operators and partners, the organisations acted for."""

    name = pw.CharField(max_length=200)
    role = pw.CharField(max_length=20)
    organization_ids = JSONField(default=list)
    #: Hash of the calendar feed key (readable in a URL), or null when none was issued.
    feed_key_hash = pw.CharField(max_length=64, null=True, unique=True)
    # --- a person who signs in to the pages (issue 13; none of these for a bare API client)
    #: werkzeug scrypt hash of the password, or null before the invitation is used.
    password_hash = pw.CharField(max_length=255, null=True)
    password_set_at = pw.DateTimeField(null=True)
    #: SHA-256 of the one-time invitation link's token, and when the link stops working.
    invite_hash = pw.CharField(max_length=64, null=True, unique=True)
    invite_expires_at = pw.DateTimeField(null=True)
    #: Set when an admin disabled the person: no sign-in, no session, no token works.
    disabled_at = pw.DateTimeField(null=True)
    #: Part of every page session; moving it on ends every session of the person at once.
    session_generation = pw.IntegerField(default=0)


class Token(BaseModel):
    """An API token: only its SHA-256 is stored; the token itself is shown once."""

    principal = pw.ForeignKeyField(Principal, backref="tokens", on_delete="CASCADE")
    name = pw.CharField(max_length=200)
    token_hash = pw.CharField(max_length=64, unique=True)
    #: The first characters, to recognise a token in a list without revealing it.
    prefix = pw.CharField(max_length=12)
    expires_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)
    last_used_at = pw.DateTimeField(null=True)
    version = pw.IntegerField(default=1)


class SignInAttempt(BaseModel):
    """A failed sign-in, counted per account name and per client address (kept in the
    database so that every worker process counts the same failures)."""

    #: ``account`` (the name typed) or ``address`` (the client's IP address).
    kind = pw.CharField(max_length=10)
    key = pw.CharField(max_length=200)
    failed_at = pw.DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("kind", "key", "failed_at"), False),)


class SiteSecret(BaseModel):
    """A random secret the processes share (the key signing page sessions when no
    ``REGISTRY_SECRET_KEY`` is configured), created once on first use."""

    name = pw.CharField(max_length=40, unique=True)
    value = pw.CharField(max_length=200)
