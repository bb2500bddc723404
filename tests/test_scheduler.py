"""The scheduler (SPEC §7): exactly one acts, a dead one is replaced, missed runs run once."""

import datetime as dt
import time
from contextlib import contextmanager
from zoneinfo import ZoneInfo

import pytest

from jobs import catalog, runs
from jobs.scheduler import Scheduler
from registry import db
from registry.db import utcnow
from registry.models import JobRun, SchedulerLock
from registry.schema import SchemaVersion

ZONE = ZoneInfo("Asia/Shanghai")


def count_job():
    return {"counted": 1}


#: A job that never fires by itself during a test (1 January, 03:00).
QUIET = catalog.Job("tick", "test job", count_job, catalog.Cron("SCAN_CRON"))


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@contextmanager
def schedulers(app, *holders, jobs=None):
    started = []
    try:
        for holder in holders:
            scheduler = Scheduler(app, jobs=jobs if jobs is not None else [QUIET], holder=holder)
            scheduler.start()
            started.append(scheduler)
        yield started
    finally:
        for scheduler in started:
            scheduler.shutdown()


def run_count(app, job_id, trigger=None):
    with app.app_context(), db.database.connection_context():
        query = JobRun.select().where(JobRun.job == job_id)
        if trigger:
            query = query.where(JobRun.trigger == trigger)
        return query.count()


@pytest.fixture
def quiet_cron(app):
    app.config["SCAN_CRON"] = "0 3 1 1 *"
    return app


def test_two_schedulers_against_one_database_only_one_acts(quiet_cron):
    app = quiet_cron
    with schedulers(app, "first", "second") as (first, second):
        assert [first.is_leader, second.is_leader] == [True, False]
        for _ in range(3):
            first.heartbeat()
            second.heartbeat()
        assert [first.is_leader, second.is_leader] == [True, False]
        assert first.fire("tick") is not None
        assert second.fire("tick") is None
        assert run_count(app, "tick") == 1
        with app.app_context(), db.database.connection_context():
            lock = SchedulerLock.get(SchedulerLock.name == "scheduler")
            assert lock.holder == "first"
            (run,) = JobRun.select()
            assert (run.trigger, run.actor, run.outcome) == (
                "schedule",
                "scheduler (first)",
                "succeeded",
            )
            assert run.counts == {"counted": 1} and run.finished_at >= run.started_at


def test_a_stopped_scheduler_hands_over_at_once(quiet_cron):
    with schedulers(quiet_cron, "first", "second") as (first, second):
        first.shutdown()
        second.heartbeat()
        assert second.is_leader
        assert second.fire("tick") is not None


def test_a_dead_scheduler_loses_the_lock(quiet_cron):
    app = quiet_cron
    app.config["SCHEDULER_LEASE_SECONDS"] = 1
    with schedulers(app, "first", "second") as (first, second):
        assert first.is_leader and not second.is_leader
        # Dies without a word: no release; its lease runs out, or on PostgreSQL the server
        # drops the advisory lock with its connection.
        first.shutdown(release=False)
        assert wait_for(lambda: second.is_leader, seconds=10)
        assert second.fire("tick") is not None
        assert run_count(app, "tick") == 1


def test_a_holder_that_lost_its_lease_stops_acting(quiet_cron):
    if db.is_postgres():
        pytest.skip("the lease is the SQLite lock; PostgreSQL's advisory lock has no lease")
    app = quiet_cron
    with schedulers(app, "first") as (first,):
        with app.app_context(), db.database.connection_context():
            SchedulerLock.update(holder="someone else").execute()
        first.heartbeat()
        assert not first.is_leader
        assert first.fire("tick") is None


def cron_at(moment: dt.datetime) -> str:
    return f"{moment.minute} {moment.hour} * * *"


def record_success(app, job_id, started_at):
    with app.app_context(), db.database.connection_context():
        JobRun.create(
            job=job_id,
            trigger="schedule",
            actor="an earlier process",
            as_of=runs.local_date(started_at),
            started_at=started_at,
            finished_at=started_at + dt.timedelta(seconds=1),
            outcome="succeeded",
            counts={},
        )


def test_a_run_missed_while_stopped_runs_once_on_start(app):
    now = dt.datetime.now(ZONE)
    # Daily at a time two minutes ago; the last run was three days ago: three runs missed.
    app.config["SCAN_CRON"] = cron_at(now - dt.timedelta(minutes=2))
    record_success(app, "scan", utcnow() - dt.timedelta(days=3))
    scan_job = catalog.get("scan")
    with schedulers(app, "restarted", jobs=[scan_job]) as (scheduler,):
        assert wait_for(lambda: run_count(app, "scan") == 2)
        time.sleep(0.5)
        assert run_count(app, "scan") == 2  # coalesced: once, not three times
        next_run = scheduler.next_run_times()["scan"]
        assert next_run > now
    with app.app_context(), db.database.connection_context():
        run = JobRun.select().order_by(JobRun.id.desc()).get()
        assert (run.trigger, run.outcome) == ("schedule", "succeeded")
        assert run.counts["as_of"] == runs.local_date(run.started_at).isoformat()


def test_a_missed_run_older_than_the_grace_time_is_skipped(app):
    now = dt.datetime.now(ZONE)
    app.config["SCAN_CRON"] = cron_at(now - dt.timedelta(hours=2))
    app.config["MISFIRE_GRACE_SECONDS"] = 60
    record_success(app, "scan", utcnow() - dt.timedelta(days=3))
    with schedulers(app, "restarted", jobs=[catalog.get("scan")]) as (scheduler,):
        assert scheduler.is_leader
        time.sleep(1)
        assert run_count(app, "scan") == 1


def test_nothing_runs_on_start_when_nothing_was_missed(app):
    now = dt.datetime.now(ZONE)
    app.config["SCAN_CRON"] = cron_at(now - dt.timedelta(minutes=2))
    record_success(app, "scan", utcnow() - dt.timedelta(minutes=1))
    with schedulers(app, "restarted", jobs=[catalog.get("scan")]) as (scheduler,):
        assert scheduler.is_leader
        with app.app_context(), db.database.connection_context():
            assert scheduler.catch_up() == []
        time.sleep(0.5)
        assert run_count(app, "scan") == 1


def test_a_new_installation_has_missed_nothing(app):
    # The run log was created a minute ago; the daily fire time was two minutes ago.
    now = dt.datetime.now(ZONE)
    trigger = catalog.Cron("SCAN_CRON").build(
        {**app.config, "SCAN_CRON": cron_at(now - dt.timedelta(minutes=2))}
    )
    with app.app_context(), db.database.connection_context():
        step = SchemaVersion.get(SchemaVersion.version == runs.RUN_LOG_VERSION)
        applied_at = step.applied_at
        try:
            SchemaVersion.update(applied_at=utcnow() - dt.timedelta(minutes=1)).where(
                SchemaVersion.version == runs.RUN_LOG_VERSION
            ).execute()
            assert runs.missed_fire_time(trigger, "scan", now) is None
            SchemaVersion.update(applied_at=utcnow() - dt.timedelta(days=1)).where(
                SchemaVersion.version == runs.RUN_LOG_VERSION
            ).execute()
            assert runs.missed_fire_time(trigger, "scan", now) is not None
        finally:
            SchemaVersion.update(applied_at=applied_at).where(
                SchemaVersion.version == runs.RUN_LOG_VERSION
            ).execute()


def test_a_failed_or_back_filled_run_does_not_count_as_done(app):
    now = dt.datetime.now(ZONE)
    trigger = catalog.Cron("SCAN_CRON").build(
        {**app.config, "SCAN_CRON": cron_at(now - dt.timedelta(minutes=2))}
    )
    record_success(app, "scan", utcnow() - dt.timedelta(days=2))
    with app.app_context(), db.database.connection_context():
        JobRun.create(
            job="scan",
            trigger="schedule",
            actor="x",
            as_of=runs.local_date(utcnow()),
            started_at=utcnow() - dt.timedelta(minutes=1),
            outcome="failed",
        )
        JobRun.create(
            job="scan",
            trigger="cli",
            actor="cli",
            as_of=dt.date(2020, 1, 1),
            started_at=utcnow() - dt.timedelta(seconds=30),
            outcome="succeeded",
        )
        assert runs.missed_fire_time(trigger, "scan", now) is not None
