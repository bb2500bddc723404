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


MIGRATIONS = [
    (1, "initial schema", _initial_schema),
    (3, "targets; annual report review columns", _targets_and_report_review),
]
