"""Accreditation history and the evaluation policies it is measured against."""

from __future__ import annotations

import peewee as pw

from registry.db import BaseModel, IdField, database
from registry.models.core import Carrier
from registry.models.fields import JSONField


class EvaluationPolicy(BaseModel):
    """How a type × level of carrier is evaluated (SPEC §3.1)."""

    type = pw.CharField(max_length=40)
    level = pw.CharField(max_length=20)
    annual_assessment = pw.BooleanField(default=False)
    term_years = pw.IntegerField(null=True)
    #: Month-day ``MM-DD`` by which last year's annual report is due, or null.
    report_due = pw.CharField(max_length=5, null=True)
    warn_days = JSONField(default=lambda: [90, 30, 7])
    #: Whether validity lapses by the calendar: false for carriers evaluated only in
    #: rounds (national postdoctoral workstations), which never expire and get no
    #: "accreditation expiring" alert.
    lapses = pw.BooleanField(default=True)
    #: The published rule the policy follows, in Chinese (issuer, title, document number),
    #: or a plain statement that none was found and the values are the bureau's choice.
    source = pw.TextField(null=True)
    note = pw.TextField(null=True)
    #: Roster rules (issue 12): stay, recruitment and incubation periods; null = defaults.
    roster_rules = JSONField(null=True)
    version = pw.IntegerField(default=1)

    class Meta:
        indexes = ((("type", "level"), True),)


class EvaluationCampaign(BaseModel):
    """An evaluation round announced by notice (SPEC §3.1): it covers the carriers of
    ``types`` (and ``levels``, all when empty) accredited before ``accredited_before`` (all
    when null), and asks each for its materials by ``materials_due_on``."""

    name = pw.CharField(max_length=200)
    #: The issuing document, e.g. 人社厅发〔2025〕12号.
    document_ref = pw.CharField(max_length=200)
    types = JSONField()
    levels = JSONField(default=list)
    accredited_before = pw.DateField(null=True)
    #: The day the round was announced: an evaluation recorded on or after it answers it.
    opened_on = pw.DateField()
    materials_due_on = pw.DateField(index=True)
    evaluation_on = pw.DateField(null=True)
    note = pw.TextField(null=True)
    version = pw.IntegerField(default=1)


class Milestone(BaseModel):
    """One event of a carrier's accreditation history: append-only, voided never deleted."""

    carrier = pw.ForeignKeyField(Carrier, backref="milestones", on_delete="CASCADE", index=True)
    kind = pw.CharField(max_length=40)
    occurred_on = pw.DateField()
    level = pw.CharField(max_length=20, null=True)
    result = pw.CharField(max_length=20, null=True)
    certificate_no = pw.CharField(max_length=100, null=True)
    valid_until = pw.DateField(null=True)
    rectify_by = pw.DateField(null=True)
    document_ref = pw.CharField(max_length=200, null=True)
    note = pw.TextField(null=True)
    voided = pw.BooleanField(default=False)
    void_reason = pw.TextField(null=True)
    recorded_by = pw.CharField(max_length=200, null=True)


class AnnualReport(BaseModel):
    """A carrier's yearly report with its metrics: one per carrier and year."""

    carrier = pw.ForeignKeyField(Carrier, backref="annual_reports", on_delete="CASCADE")
    year = pw.IntegerField()
    metrics = JSONField(default=dict)
    status = pw.CharField(max_length=20, default="submitted")
    submitted_at = pw.DateTimeField(null=True)
    review_comment = pw.TextField(null=True)
    #: The bureau's review: when and by whom (cleared when the report is resubmitted).
    reviewed_at = pw.DateTimeField(null=True)
    reviewed_by = pw.CharField(max_length=200, null=True)
    version = pw.IntegerField(default=1)

    class Meta:
        indexes = ((("carrier", "year"), True),)


class CarrierPeriod(pw.Model):
    """One stretch of a carrier's history with the state its replay gives (issue 10): the
    stored form of ``lifecycle.replay`` for every day, so that point-in-time answers are a
    join. Rewritten, only by ``registry.state.store_periods``, in the transaction of every
    write that changes the history or the initial state; a fresh replay always equals it.

    ``valid_from`` is the day of the milestones that led to the state (inclusive), for the
    initial state the day of the carrier's registration (``created_at`` in the configured
    zone: ``registry rebuild`` after changing ``REGISTRY_TIMEZONE``); ``valid_to`` the day of
    the next milestones (exclusive), null while it lasts. No period covers a day before the
    history had begun.
    """

    id = IdField()
    carrier = pw.ForeignKeyField(Carrier, backref="periods", on_delete="CASCADE")
    valid_from = pw.DateField()
    valid_to = pw.DateField(null=True)
    status = pw.CharField(max_length=20)
    level = pw.CharField(max_length=20)
    accredited_on = pw.DateField(null=True)
    certificate_no = pw.CharField(max_length=100, null=True)
    milestone_valid_until = pw.DateField(null=True)
    cycle_start = pw.DateField(null=True)
    last_evaluation_on = pw.DateField(null=True)
    rectify_by = pw.DateField(null=True)

    class Meta:
        database = database
        table_name = "carrier_period"
        indexes = (
            (("carrier", "valid_from"), True),
            (("carrier", "valid_from", "valid_to", "status", "level", "accredited_on"), False),
        )
