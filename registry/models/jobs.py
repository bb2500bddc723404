"""Alerts written by the scan job, the run log of the jobs and the scheduler lock."""

from __future__ import annotations

import peewee as pw

from registry.db import BaseModel, utcnow
from registry.models.core import Carrier
from registry.models.fields import JSONField


class Alert(BaseModel):
    """A deadline flagged by the scan: one per (carrier, kind, due date)."""

    carrier = pw.ForeignKeyField(Carrier, backref="alerts", on_delete="CASCADE", index=True)
    kind = pw.CharField(max_length=40, index=True)
    due_on = pw.DateField(index=True)
    days_left = pw.IntegerField()
    status = pw.CharField(max_length=20, default="open", index=True)
    opened_on = pw.DateField()
    acknowledged_at = pw.DateTimeField(null=True)
    acknowledged_by = pw.CharField(max_length=200, null=True)
    resolved_on = pw.DateField(null=True)
    version = pw.IntegerField(default=1)

    class Meta:
        indexes = ((("carrier", "kind", "due_on"), True),)


class JobRun(BaseModel):
    """One run of a scheduled job: the run log (SPEC §7)."""

    job = pw.CharField(max_length=40)
    #: What started it: ``schedule``, ``manual`` (POST /jobs/{id}/run) or ``cli``.
    trigger = pw.CharField(max_length=20)
    actor = pw.CharField(max_length=200)
    #: The day the run concerns (the scan's ``--as-of``).
    as_of = pw.DateField(null=True)
    started_at = pw.DateTimeField(default=utcnow)
    finished_at = pw.DateTimeField(null=True)
    #: ``running``, ``succeeded`` or ``failed``.
    outcome = pw.CharField(max_length=20, default="running")
    counts = JSONField(null=True)
    error = pw.TextField(null=True)

    class Meta:
        indexes = ((("job", "started_at"), False),)


class SchedulerLock(BaseModel):
    """Who runs the scheduled jobs. On SQLite the row is the lock (a lease renewed by its
    holder); on PostgreSQL an advisory lock decides and the row only says who holds it."""

    name = pw.CharField(max_length=40, unique=True)
    holder = pw.CharField(max_length=200)
    acquired_at = pw.DateTimeField(default=utcnow)
    renewed_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField()
