"""Schema migration steps, applied in order by ``registry init-db`` (see ``registry.db``).

Never edit a step that has shipped: add a new one (``playhouse.migrate`` operations or
``create_table`` for new models) with the next version number.
"""

from __future__ import annotations

import logging

from registry.db import database

log = logging.getLogger(__name__)


def _initial_schema() -> None:
    from registry import models as m

    database.create_tables(
        [
            m.Organization,
            m.Carrier,
            m.CarrierPartner,
            m.CarrierTag,
            m.Principal,
            m.Token,
            m.Change,
            m.OutboxEvent,
            m.EvaluationPolicy,
            m.Milestone,
            m.AnnualReport,
            m.Alert,
        ],
        safe=True,
    )


def _add_missing(model, names: list[str]) -> list[str]:
    """Add the columns of ``model`` named ``names`` that its table lacks; return those added.

    Step 1 creates tables from the current models, so a fresh database already has every
    column; an upgraded one gets them here.
    """
    from playhouse.migrate import SchemaMigrator, migrate

    table = model._meta.table_name
    present = {column.name for column in database.get_columns(table)}
    missing = [name for name in names if model._meta.fields[name].column_name not in present]
    if missing:
        migrator = SchemaMigrator.from_database(database.obj)
        migrate(
            *[
                migrator.add_column(
                    table, model._meta.fields[name].column_name, model._meta.fields[name]
                )
                for name in missing
            ]
        )
    return missing


def _access_and_audit() -> None:
    """Audit records name the token and link to their carrier; tokens get a version (ETag);
    registrations keep who reviewed them and when."""
    from playhouse.migrate import SchemaMigrator, migrate

    from registry import models as m

    migrator = SchemaMigrator.from_database(database.obj)
    added = _add_missing(m.Change, ["token_name", "carrier_id"])
    if "carrier_id" in added:
        # add_column indexes carrier_id itself (index=True); request_id gains one.
        migrate(migrator.add_index("change", ("request_id",)))
        (
            m.Change.update(carrier_id=m.Change.object_id)
            .where(m.Change.object_type == "carrier")
            .execute()
        )
    _add_missing(m.Token, ["version"])
    _add_missing(m.Carrier, ["reviewed_at", "reviewed_by"])


def _webhooks() -> None:
    from registry import models as m

    database.create_tables([m.Webhook, m.WebhookDelivery, m.WebhookAttempt], safe=True)


def _targets_and_report_review() -> None:
    """Targets (SPEC §3.4) and who reviewed an annual report, when; carriers replayed.

    Step 1 creates tables from the current models, so on a fresh database the new report
    columns exist already: add only the missing ones. Carriers with a history are replayed,
    since the stored state now keeps only the validity a milestone stated (the policy's term
    is applied when dates are derived) and returned reports no longer count as filed.
    """
    from playhouse.migrate import SchemaMigrator, migrate

    from registry import lifecycle, milestones
    from registry import models as m

    database.create_tables([m.Target], safe=True)
    existing = {column.name for column in database.get_columns("annual_report")}
    migrator = SchemaMigrator.from_database(database.obj)
    operations = [
        migrator.add_column("annual_report", name, getattr(m.AnnualReport, name))
        for name in ("reviewed_at", "reviewed_by")
        if name not in existing
    ]
    if operations:
        migrate(*operations)
    with_history = m.Milestone.select(m.Milestone.carrier).distinct()
    for (carrier_id,) in with_history.order_by(m.Milestone.carrier).tuples():
        try:
            milestones.rebuild(carrier_id)
        except lifecycle.LifecycleError as error:
            # A history the stricter rules refuse (a level change to the same level): keep
            # its stored state rather than block the upgrade.
            log.warning("Carrier %s kept as stored: %s", carrier_id, error)


def _job_runs_and_scheduler_lock() -> None:
    from registry import models as m

    database.create_tables([m.JobRun, m.SchedulerLock], safe=True)


def _campaigns_sources_and_event_carriers() -> None:
    """Evaluation campaigns; policies say whether validity lapses and cite their source;
    outbox events name their carrier.

    Frozen: the table and columns are written out here, not taken from the live models.
    Undelivered events get their ``carrier_id`` from the payload once, the way delivery used
    to guess it; delivered ones are history and keep null.
    """
    import json

    import peewee as pw
    from playhouse.migrate import SchemaMigrator, migrate

    from registry.db import utcnow

    class Campaign(pw.Model):
        created_at = pw.DateTimeField(default=utcnow)
        updated_at = pw.DateTimeField(default=utcnow)
        name = pw.CharField(max_length=200)
        document_ref = pw.CharField(max_length=200)
        types = pw.TextField()
        levels = pw.TextField()
        accredited_before = pw.DateField(null=True)
        opened_on = pw.DateField()
        materials_due_on = pw.DateField(index=True)
        evaluation_on = pw.DateField(null=True)
        note = pw.TextField(null=True)
        version = pw.IntegerField(default=1)

        class Meta:
            database = database
            table_name = "evaluation_campaign"

    database.create_tables([Campaign], safe=True)
    migrator = SchemaMigrator.from_database(database.obj)
    wanted = {
        "evaluation_policy": {
            "lapses": pw.BooleanField(default=True),
            "source": pw.TextField(null=True),
        },
        "outbox_event": {"carrier_id": pw.IntegerField(null=True)},
    }
    operations = []
    for table, columns in wanted.items():
        present = {column.name for column in database.get_columns(table)}
        operations += [
            migrator.add_column(table, name, field)
            for name, field in columns.items()
            if name not in present
        ]
    if operations:
        migrate(*operations)
    # National postdoctoral workstations have no validity period: they are evaluated in
    # rounds (SPEC §3.1). Frozen: the type named here, not read from the live fixtures.
    if any(op for op in operations):
        database.execute_sql(
            "UPDATE evaluation_policy SET lapses = "
            + ("false" if database.obj.__class__.__name__.startswith("Postgres") else "0")
            + " WHERE type = 'postdoc_workstation'"
        )

    class Event(pw.Model):
        data = pw.TextField(null=True)
        dispatched_at = pw.DateTimeField(null=True)
        carrier_id = pw.IntegerField(null=True)

        class Meta:
            database = database
            table_name = "outbox_event"

    pending = Event.select(Event.id, Event.data).where(
        Event.dispatched_at.is_null() & Event.carrier_id.is_null()
    )
    for event_id, data in pending.tuples():
        carrier_id = _payload_carrier_id(json.loads(data) if data else None)
        if carrier_id is not None:
            Event.update(carrier_id=carrier_id).where(Event.id == event_id).execute()


def _payload_carrier_id(data) -> int | None:
    """The carrier of an event guessed from its payload (frozen for step 8)."""
    if not isinstance(data, dict):
        return None
    carrier = data.get("carrier")
    if isinstance(carrier, dict) and isinstance(carrier.get("id"), int):
        return carrier["id"]
    if isinstance(data.get("carrier_id"), int):
        return data["carrier_id"]
    for value in data.values():
        if isinstance(value, dict) and isinstance(value.get("carrier_id"), int):
            return value["carrier_id"]
    return None


MIGRATIONS = [
    (1, "initial schema", _initial_schema),
    (
        2,
        "access and audit: token names in changes, token versions, registration review",
        _access_and_audit,
    ),
    (5, "webhook subscriptions, deliveries and their attempts", _webhooks),
    (3, "targets; annual report review columns", _targets_and_report_review),
    (4, "job run log and scheduler lock", _job_runs_and_scheduler_lock),
    (
        8,
        "evaluation campaigns; policy lapses and source; outbox events name their carrier",
        _campaigns_sources_and_event_carriers,
    ),
]
