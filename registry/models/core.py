"""Organisations and carriers: the registry itself."""

from __future__ import annotations

import peewee as pw

from registry.db import BaseModel, database
from registry.models.fields import JSONField


class Organization(BaseModel):
    """A host or partner organisation (enterprise, university, park operator…)."""

    name = pw.CharField(max_length=200)
    uscc = pw.CharField(max_length=18, null=True, unique=True)
    #: Set when an admin recorded a code that fails the check digit (early pilot codes).
    uscc_override = pw.BooleanField(default=False)
    kind = pw.CharField(max_length=40)
    town = pw.CharField(max_length=40, null=True)
    address = pw.CharField(max_length=300, null=True)
    contact = JSONField(null=True)
    version = pw.IntegerField(default=1)
    #: ``registry.names``: what a search for its name matches, and its pinyin sort order;
    #: written with the name by ``registry.organizations``.
    search_key = pw.TextField(default="")
    sort_key = pw.CharField(max_length=600, default="", index=True)


class Carrier(BaseModel):
    """A talent carrier. ``status`` and accreditation columns change only through the lifecycle."""

    name = pw.CharField(max_length=200, index=True)
    type = pw.CharField(max_length=40, index=True)
    level = pw.CharField(max_length=20, index=True)
    status = pw.CharField(max_length=20, index=True, default="applying")
    host_organization = pw.ForeignKeyField(
        Organization, backref="hosted_carriers", on_delete="RESTRICT", index=True
    )
    town = pw.CharField(max_length=40, null=True, index=True)
    description = pw.TextField(null=True)
    lead_person = pw.CharField(max_length=100, null=True)
    established_on = pw.DateField(null=True)
    accredited_on = pw.DateField(null=True, index=True)
    certificate_no = pw.CharField(max_length=100, null=True)
    #: Validity end given by the accreditation (or passing term evaluation) milestone.
    milestone_valid_until = pw.DateField(null=True)
    #: Explicit overrides typed in by the bureau; they win over the derived dates.
    valid_until_override = pw.DateField(null=True)
    next_evaluation_override = pw.DateField(null=True)
    #: ``MM-DD`` by which this carrier's annual report is due, instead of its policy's.
    report_due_override = pw.CharField(max_length=5, null=True)
    #: Derived dates (SPEC §3.2), stored so that they filter and sort in SQL; only
    #: ``registry.state.refresh_dates`` writes them, from ``registry.lifecycle.derive``.
    valid_until = pw.DateField(null=True, index=True)
    next_evaluation_on = pw.DateField(null=True, index=True)
    next_report_due_on = pw.DateField(null=True, index=True)
    next_report_year = pw.IntegerField(null=True)
    #: Start of the evaluation cycle: last accreditation or passing term evaluation.
    cycle_start = pw.DateField(null=True)
    last_evaluation_on = pw.DateField(null=True)
    #: Deadline of the current rectification (status ``rectifying``).
    rectify_by = pw.DateField(null=True)
    attributes = JSONField(default=dict)
    contact = JSONField(null=True)
    #: Status the lifecycle replays from: ``applying`` (bureau) or ``submitted`` (partner),
    #: ``rejected`` once a registration was refused.
    initial_status = pw.CharField(max_length=20, default="applying")
    #: Level the lifecycle replays from (the level given at creation).
    initial_level = pw.CharField(max_length=20)
    #: Partner registration: the principal that submitted it and the review outcome.
    submitted_by = pw.IntegerField(null=True)
    #: The organisation the submitting partner acted for: only its partners edit or withdraw
    #: the registration until review (null when the bureau submitted it).
    submitted_by_organization = pw.IntegerField(null=True)
    #: Organisations a partner named by credit code that are not its own, as it typed them
    #: (``{"host": {uscc, name, kind} | null, "partners": [{uscc, name, kind, role}]}``):
    #: neither linked nor created until the bureau approves, so that naming one reveals
    #: nothing and puts the registration in no one else's view.
    proposed_organizations = JSONField(null=True)
    review_comment = pw.TextField(null=True)
    reviewed_at = pw.DateTimeField(null=True)
    reviewed_by = pw.CharField(max_length=200, null=True)
    version = pw.IntegerField(default=1)
    #: ``registry.names``: what a search matches (its name and its host's) and its pinyin
    #: sort order; rewritten by ``carriers.refresh_names`` whenever either name changes.
    search_key = pw.TextField(default="")
    sort_key = pw.CharField(max_length=600, default="", index=True)

    class Meta:
        #: Chosen from the plans of the lists and stats the API offers (migration 13, see
        #: ``registry.migrations._read_path_indexes`` for which query each one serves).
        indexes = (
            (("type", "town", "accredited_on"), False),
            (("status", "sort_key", "id"), False),
            (("type", "level", "status", "town"), False),
        )

    @classmethod
    def linked_to(cls, organization_ids) -> pw.ModelSelect:
        """Ids of the carriers hosted by, or partnered with, one of ``organization_ids``
        (a subquery: ``Carrier.id.in_(Carrier.linked_to(orgs))``)."""
        orgs = list(organization_ids)
        partnered = CarrierPartner.select(CarrierPartner.carrier).where(
            CarrierPartner.organization.in_(orgs)
        )
        return cls.select(cls.id).where(cls.host_organization.in_(orgs) | cls.id.in_(partnered))


class CarrierPartner(BaseModel):
    """A partner organisation of a carrier, with its role."""

    carrier = pw.ForeignKeyField(Carrier, backref="partner_links", on_delete="CASCADE")
    organization = pw.ForeignKeyField(
        Organization, backref="partner_links", on_delete="RESTRICT", index=True
    )
    role = pw.CharField(max_length=40)

    class Meta:
        indexes = ((("carrier", "organization"), True),)


class CarrierTag(BaseModel):
    """One tag of a carrier (a table so that tag filters are indexable on every database)."""

    carrier = pw.ForeignKeyField(Carrier, backref="tag_links", on_delete="CASCADE")
    tag = pw.CharField(max_length=60, index=True)

    class Meta:
        indexes = ((("carrier", "tag"), True),)


class CarrierCount(pw.Model):
    """How many carriers there are of each type × level × status × town (issue 10): what
    ``/stats/carriers`` and list totals read when their question is about those four fields
    alone (``registry.directory``), instead of counting up to every carrier's index entry.

    Never written by the application: triggers on the carrier table (migration 16) change
    it in the same statement as every insert, delete and change of one of the four fields,
    whichever code or SQL makes it, so that it is exact in every transaction's view. A
    carrier without a town counts under ``town = ''`` (a key column cannot be null). Rows
    may hold 0 once their last carrier left the group.
    """

    type = pw.CharField(max_length=40)
    level = pw.CharField(max_length=20)
    status = pw.CharField(max_length=20)
    town = pw.CharField(max_length=40)
    carriers = pw.IntegerField()

    class Meta:
        database = database
        table_name = "carrier_count"
        primary_key = pw.CompositeKey("type", "level", "status", "town")
        #: Covering (migration 17): the stats' GROUP BY reads the index alone, half the time
        #: of looking up each row of the key's index in the table (SQLite).
        indexes = ((("type", "level", "status", "town", "carriers"), False),)
