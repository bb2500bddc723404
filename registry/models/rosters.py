"""Carrier rosters (issue 12): the people and enterprises attached to a carrier."""

from __future__ import annotations

import peewee as pw

from registry.db import BaseModel
from registry.models.core import Carrier, Organization


class Member(BaseModel):
    """One roster entry: a postdoc, expert, master, apprentice, resident enterprise or
    trainee cohort of a carrier. Personal fields (name, institution, title, topic) are the
    only personal data kept; erasure empties them and keeps the entry, so counts stay."""

    carrier = pw.ForeignKeyField(Carrier, backref="members", on_delete="CASCADE", index=True)
    role = pw.CharField(max_length=30, index=True)
    name = pw.CharField(max_length=200, null=True)
    organization = pw.ForeignKeyField(
        Organization, backref="memberships", on_delete="RESTRICT", null=True, index=True
    )
    institution = pw.CharField(max_length=200, null=True)
    title = pw.CharField(max_length=100, null=True)
    topic = pw.CharField(max_length=300, null=True)
    size = pw.IntegerField(null=True)
    started_on = pw.DateField(null=True)
    planned_end_on = pw.DateField(null=True)
    ended_on = pw.DateField(null=True)
    outcome = pw.CharField(max_length=20, null=True)
    #: A postdoc's planned stay was extended (allowed once).
    extended = pw.BooleanField(default=False)
    #: When the personal fields were erased on request (PIPL), or null.
    erased_at = pw.DateTimeField(null=True)
    version = pw.IntegerField(default=1)
