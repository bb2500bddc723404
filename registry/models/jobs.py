"""Alerts written by the scan job."""

from __future__ import annotations

import peewee as pw

from registry.db import BaseModel
from registry.models.core import Carrier


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
