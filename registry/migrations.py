"""Schema migration steps, applied in order by ``registry init-db`` (see ``registry.db``).

Never edit a step that has shipped: add a new one (``playhouse.migrate`` operations or
``create_table`` for new models) with the next version number.
"""

from __future__ import annotations

from registry.db import database


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


def _job_runs_and_scheduler_lock() -> None:
    from registry import models as m

    database.create_tables([m.JobRun, m.SchedulerLock], safe=True)


MIGRATIONS = [
    (1, "initial schema", _initial_schema),
    (4, "job run log and scheduler lock", _job_runs_and_scheduler_lock),
]
