"""Principals and their API tokens (SPEC §6)."""

from __future__ import annotations

import peewee as pw

from registry.db import BaseModel
from registry.models.fields import JSONField


class Principal(BaseModel):
    """Who acts: a name, a role and, for operators and partners, the organisations acted for."""

    name = pw.CharField(max_length=200)
    role = pw.CharField(max_length=20)
    organization_ids = JSONField(default=list)
    #: Hash of the calendar feed key (readable in a URL), or null when none was issued.
    feed_key_hash = pw.CharField(max_length=64, null=True, unique=True)


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
