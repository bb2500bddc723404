"""Targets the bureau tracks (SPEC §3.4); their progress is computed live, never stored."""

from __future__ import annotations

import peewee as pw

from registry.db import BaseModel
from registry.models.fields import JSONField


class Target(BaseModel):
    """A named, dated goal: a count of carriers or a sum of an annual-report metric."""

    name = pw.CharField(max_length=200)
    #: ``carrier_count`` or ``report_sum``.
    metric = pw.CharField(max_length=20)
    #: Carrier filter: type, level, level_min, status, tag, accredited_from, accredited_to.
    filter = JSONField(default=dict)
    #: For ``report_sum``: the metric summed and the report year.
    report_metric = pw.CharField(max_length=60, null=True)
    year = pw.IntegerField(null=True)
    target_value = pw.DoubleField()
    deadline = pw.DateField()
    #: Start of the period the pace is measured over (default: 1 January of the deadline year).
    starts_on = pw.DateField(null=True)
    note = pw.TextField(null=True)
    version = pw.IntegerField(default=1)
