"""The run log: every job run recorded (start, end, outcome, counts, error), and what it
tells about missed runs and the freshness of the scan."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from jobs.catalog import Job
from registry import audit, clock
from registry.db import utcnow
from registry.models import JobRun
from registry.schema import SchemaVersion

log = logging.getLogger(__name__)

#: The migration step that created the run log: before any run, times count from it.
RUN_LOG_VERSION = 4
#: Successful scans looked at to find the latest one that was not a back-fill.
RECENT_SCANS = 50


def execute(
    job: Job,
    *,
    trigger: str,
    actor: str,
    as_of: dt.date | None = None,
    func: Callable[[], dict[str, Any]] | None = None,
) -> JobRun:
    """Run ``job`` now (or ``func`` in its name) and record the run; never raises for a
    failure of the job itself, which is recorded as ``failed`` with its error."""
    run = JobRun.create(
        job=job.id,
        trigger=trigger,
        actor=actor,
        as_of=as_of or clock.today(),
        started_at=utcnow(),
        outcome="running",
    )
    counts, error, outcome = None, None, "succeeded"
    try:
        counts = (func or job.func)()
    except Exception as failure:  # the run log records any failure of a job
        log.exception("Job %s failed", job.id)
        outcome, error = "failed", f"{type(failure).__name__}: {failure}"[:2000]
    now = utcnow()
    JobRun.update(
        finished_at=now,
        outcome=outcome,
        counts=audit.jsonable(counts),
        error=error,
        updated_at=now,
    ).where(JobRun.id == run.id).execute()
    return JobRun.get_by_id(run.id)


def as_dict(run: JobRun) -> dict[str, Any]:
    """A run as the API shows it."""
    return {
        "id": run.id,
        "job": run.job,
        "trigger": run.trigger,
        "actor": run.actor,
        "as_of": run.as_of,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "outcome": run.outcome,
        "counts": run.counts,
        "error": run.error,
    }


def local_date(timestamp: dt.datetime) -> dt.date:
    """The date, in the configured time zone, of a stored naive-UTC timestamp."""
    return clock.local_date(timestamp)


def last_run(job_id: str) -> JobRun | None:
    """The latest run of a job, whatever its outcome."""
    return (
        JobRun.select()
        .where(JobRun.job == job_id)
        .order_by(JobRun.started_at.desc(), JobRun.id.desc())
        .first()
    )


def last_current_success(job_id: str) -> JobRun | None:
    """The latest successful run that concerned the day it ran on.

    A back-fill (``registry scan --as-of`` an earlier day) does not count: it says nothing
    about today's alerts.
    """
    recent = (
        JobRun.select()
        .where((JobRun.job == job_id) & (JobRun.outcome == "succeeded"))
        .order_by(JobRun.started_at.desc(), JobRun.id.desc())
        .limit(RECENT_SCANS)
    )
    for run in recent:
        if run.as_of is None or run.as_of >= local_date(run.started_at):
            return run
    return None


def run_log_created_at() -> dt.datetime:
    """When the run log was created (its migration step), naive UTC."""
    step = SchemaVersion.get_or_none(SchemaVersion.version == RUN_LOG_VERSION)
    return step.applied_at if step else utcnow()


def missed_fire_time(
    trigger: BaseTrigger,
    job_id: str,
    now: dt.datetime,
) -> dt.datetime | None:
    """The first fire time of ``trigger`` after the job last ran, if it is already past.

    "Last ran" is the start of the latest successful current run (a failed or interrupted
    run did not do its work), or the creation of the run log when the job never ran, so a
    new installation has missed nothing. ``now`` is timezone-aware. The scheduler hands the
    time to APScheduler, which coalesces every missed fire time into one run and skips it
    when the latest one is older than the misfire grace time.
    """
    run = last_current_success(job_id)
    baseline = run.started_at if run else run_log_created_at()
    baseline = baseline.replace(tzinfo=dt.UTC) + dt.timedelta(microseconds=1)
    first = trigger.get_next_fire_time(None, baseline)
    if first is not None and first <= now:
        return first
    return None


def scan_freshness(max_age_hours: int, now: dt.datetime | None = None) -> dict[str, Any]:
    """The age of the last successful scan for its own day, and whether it is fresh enough.

    Before the first scan the age counts from the creation of the run log, so a new
    installation is ready until its first scheduled scan is overdue. ``max_age_hours`` 0
    disables the check.
    """
    now = now or utcnow()
    run = last_current_success("scan")
    since = (run.finished_at or run.started_at) if run else run_log_created_at()
    age_hours = max(0.0, (now - since).total_seconds() / 3600)
    return {
        "last_scan_at": since if run else None,
        "last_scan_age_hours": round(age_hours, 2) if run else None,
        "fresh": max_age_hours <= 0 or age_hours <= max_age_hours,
    }
