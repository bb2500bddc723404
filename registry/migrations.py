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


def _partner_access() -> None:
    """Audit records keep the actor's principal id; a registration keeps the organisation that
    submitted it and the organisations its partner named by credit code, pending review.

    Frozen at version 7: the columns are declared here, not taken from the models. Pending
    registrations of partners get their submitting organisation back-filled: the first of
    the submitter's organisations the registration names (host first), as the rule
    "only the submitting organisation edits" reads it.
    """
    import json

    import peewee as pw
    from playhouse.migrate import SchemaMigrator, migrate

    migrator = SchemaMigrator.from_database(database.obj)
    wanted = {
        "change": [("actor_id", pw.IntegerField(null=True, index=True))],
        "carrier": [
            ("submitted_by_organization", pw.IntegerField(null=True)),
            ("proposed_organizations", pw.TextField(null=True)),
        ],
    }
    for table, columns in wanted.items():
        present = {column.name for column in database.get_columns(table)}
        operations = [
            migrator.add_column(table, name, field)
            for name, field in columns
            if name not in present
        ]
        if operations:
            migrate(*operations)
    pending = database.execute_sql(
        "SELECT c.id, c.host_organization_id, p.organization_ids FROM carrier c "
        "JOIN principal p ON p.id = c.submitted_by "
        "WHERE c.submitted_by_organization IS NULL AND c.status = 'submitted' "
        "AND p.role = 'partner'"
    ).fetchall()
    mark = database.param
    for carrier_id, host_id, organization_ids in pending:
        own = set(json.loads(organization_ids or "[]"))
        partners = [
            row[0]
            for row in database.execute_sql(
                "SELECT organization_id FROM carrier_partner "
                f"WHERE carrier_id = {mark} ORDER BY id",
                (carrier_id,),
            ).fetchall()
        ]
        submitting = next((org for org in [host_id, *partners] if org in own), None)
        if submitting is not None:
            database.execute_sql(
                f"UPDATE carrier SET submitted_by_organization = {mark} WHERE id = {mark}",
                (submitting, carrier_id),
            )


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
        7,
        "partner access: actor ids in changes, submitting organisation, proposed organisations",
        _partner_access,
    ),
]
