"""The job scheduler (SPEC §7): APScheduler running the jobs of ``jobs.catalog``, with a
database lock so that exactly one scheduler acts however many processes run one.

- Every scheduler process (``registry run`` or ``registry scheduler``) starts an
  APScheduler ``BackgroundScheduler`` with the jobs' triggers (``coalesce``,
  ``max_instances=1``, ``misfire_grace_time`` from ``REGISTRY_MISFIRE_GRACE_SECONDS``).
- A heartbeat thread takes or keeps the lock: on PostgreSQL a session advisory lock held on
  a dedicated connection for the life of the process (the server releases it when the
  process dies); on SQLite a ``scheduler_lock`` row with a lease of
  ``REGISTRY_SCHEDULER_LEASE_SECONDS``, renewed every third of it (a dead holder loses it
  when the lease runs out). Only the holder runs jobs; the others stand by and take over.
- When a process becomes the holder it looks at the run log: a job whose first fire time
  after its last successful run is already past missed a run while no scheduler acted, and
  is set to run at that time; APScheduler coalesces every missed time into one run, or
  skips it when the latest is older than the misfire grace time.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from zoneinfo import ZoneInfo

import peewee as pw
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from jobs import catalog, runs
from registry import db
from registry.db import database, utcnow, write_transaction
from registry.models import SchedulerLock

log = logging.getLogger(__name__)

LOCK_NAME = "scheduler"
#: Key of the PostgreSQL session advisory lock ("REGSCHED").
ADVISORY_KEY = 0x5245_4753_4348_4544


class LeaseLock:
    """The lock as a lease in the ``scheduler_lock`` row (SQLite, or any database)."""

    def __init__(self, holder: str, lease_seconds: int):
        self.holder = holder
        self.lease = dt.timedelta(seconds=lease_seconds)
        self._valid_until = 0.0  # time.monotonic() until which the lease is surely ours

    def acquire(self) -> bool:
        """Take the lease if it is free or expired, renew it if ours; True when held."""
        started = time.monotonic()
        now = utcnow()
        with write_transaction():
            taken = (
                SchedulerLock.update(
                    holder=self.holder,
                    acquired_at=pw.Case(
                        None,
                        [(SchedulerLock.holder != self.holder, now)],
                        SchedulerLock.acquired_at,
                    ),
                    renewed_at=now,
                    expires_at=now + self.lease,
                    updated_at=now,
                )
                .where(
                    (SchedulerLock.name == LOCK_NAME)
                    & ((SchedulerLock.holder == self.holder) | (SchedulerLock.expires_at < now))
                )
                .execute()
            )
            if (
                not taken
                and not SchedulerLock.select().where(SchedulerLock.name == LOCK_NAME).exists()
            ):
                try:
                    with write_transaction():
                        SchedulerLock.create(
                            name=LOCK_NAME,
                            holder=self.holder,
                            acquired_at=now,
                            renewed_at=now,
                            expires_at=now + self.lease,
                        )
                    taken = 1
                except pw.IntegrityError:
                    taken = 0
        # Keep a safety margin: act only while the lease surely has not run out.
        self._valid_until = started + self.lease.total_seconds() * 0.8 if taken else 0.0
        return bool(taken)

    def confirm(self) -> bool:
        """Whether the lease is still ours (checked before each job run)."""
        return time.monotonic() < self._valid_until

    def release(self) -> None:
        """Let the lease go at once, so a standby takes over without waiting."""
        self._valid_until = 0.0
        SchedulerLock.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(
            (SchedulerLock.name == LOCK_NAME) & (SchedulerLock.holder == self.holder)
        ).execute()


class AdvisoryLock:
    """The lock as a PostgreSQL session advisory lock on a dedicated connection.

    The connection lives as long as the scheduler; if it breaks, or the process dies, the
    server drops the lock and another process takes it. The ``scheduler_lock`` row is kept
    up to date for information (who holds it), not as the lock.
    """

    def __init__(self, holder: str, lease_seconds: int):
        self.holder = holder
        self.lease = dt.timedelta(seconds=lease_seconds)
        self._connection = None
        self._held = False
        self._mutex = threading.Lock()

    def _connect(self):
        import psycopg2

        target = database.obj
        connection = psycopg2.connect(database=target.database, **target.connect_params)
        connection.autocommit = True
        return connection

    def _query(self, sql: str, params: tuple = ()):
        import psycopg2

        with self._mutex:
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = self._connect()
                    self._held = False
                with self._connection.cursor() as cursor:
                    cursor.execute(sql, params)
                    return cursor.fetchone()[0]
            except psycopg2.Error as error:
                log.warning("Scheduler lock connection failed: %s", error)
                self._drop()
                return None

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # already broken
                pass
        self._connection = None
        self._held = False

    def acquire(self) -> bool:
        """Take the advisory lock if free, or check the connection that holds it."""
        if self._held and self._query("SELECT 1") == 1 and self._held:
            self._record()
            return True
        self._held = bool(self._query("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)))
        if self._held:
            self._record()
        return self._held

    def confirm(self) -> bool:
        """Whether the lock is still held (its connection answers)."""
        return self._held and self._query("SELECT 1") == 1 and self._held

    def release(self) -> None:
        """Unlock and close the dedicated connection."""
        if self._held:
            self._query("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))
        with self._mutex:
            self._drop()

    def abandon(self) -> None:
        """Close the connection without unlocking: what the death of the process does."""
        with self._mutex:
            self._drop()

    def _record(self) -> None:
        now = utcnow()
        values = {
            "holder": self.holder,
            "renewed_at": now,
            "expires_at": now + self.lease,
            "updated_at": now,
        }
        SchedulerLock.insert(name=LOCK_NAME, acquired_at=now, **values).on_conflict(
            conflict_target=[SchedulerLock.name],
            update={
                **values,
                "acquired_at": pw.Case(
                    None,
                    [(SchedulerLock.holder != self.holder, now)],
                    SchedulerLock.acquired_at,
                ),
            },
        ).execute()


def make_lock(holder: str, lease_seconds: int) -> LeaseLock | AdvisoryLock:
    """The lock that suits the bound database."""
    return (AdvisoryLock if db.is_postgres() else LeaseLock)(holder, lease_seconds)


class Scheduler:
    """One scheduler process: APScheduler, the lock and its heartbeat."""

    def __init__(
        self, app: Flask, jobs: list[catalog.Job] | None = None, holder: str | None = None
    ):
        self.app = app
        self.jobs = {job.id: job for job in (jobs if jobs is not None else catalog.JOBS)}
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        config = app.config
        self.zone = ZoneInfo(config["TIMEZONE"])
        self.heartbeat_seconds = max(1.0, config["SCHEDULER_LEASE_SECONDS"] / 3)
        self.is_leader = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock: LeaseLock | AdvisoryLock | None = None
        self._aps = BackgroundScheduler(
            timezone=self.zone,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": config["MISFIRE_GRACE_SECONDS"],
            },
        )

    @property
    def actor(self) -> str:
        return f"scheduler ({self.holder})"

    def start(self) -> None:
        """Schedule the jobs, take the lock if free (running missed jobs) and keep beating."""
        with self.app.app_context():
            self._lock = make_lock(self.holder, self.app.config["SCHEDULER_LEASE_SECONDS"])
            for job in self.jobs.values():
                self._aps.add_job(
                    self.fire,
                    trigger=job.schedule.build(self.app.config),
                    args=[job.id],
                    id=job.id,
                    name=job.description,
                    replace_existing=True,
                )
        self._aps.start()
        try:
            self.heartbeat()
        except Exception:  # the database may be down at start: the heartbeat keeps trying
            log.exception("Scheduler %s could not reach the lock yet", self.holder)
        self._thread = threading.Thread(
            target=self._beat, name="registry-scheduler-heartbeat", daemon=True
        )
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                self.heartbeat()
            except Exception:  # keep beating through a database hiccup
                log.exception("Scheduler heartbeat failed")

    def heartbeat(self) -> None:
        """Take or renew the lock; on becoming the holder, catch up on missed runs."""
        with self.app.app_context(), database.connection_context():
            held = self._lock.acquire()
            if held and not self.is_leader:
                self.is_leader = True
                log.info("Scheduler %s holds the lock and runs the jobs", self.holder)
                self.catch_up()
            elif not held and self.is_leader:
                self.is_leader = False
                log.warning("Scheduler %s lost the lock; standing by", self.holder)

    def catch_up(self, now: dt.datetime | None = None) -> list[str]:
        """Set every job that missed a run to run now (once, within the misfire grace);
        return their ids. Called by :meth:`heartbeat`, in an app context."""
        now = now or dt.datetime.now(self.zone)
        due = []
        for job in self.jobs.values():
            aps_job = self._aps.get_job(job.id)
            missed = runs.missed_fire_time(aps_job.trigger, job.id, now)
            if missed is not None:
                log.info("Job %s missed its run of %s; running it once", job.id, missed)
                self._aps.modify_job(job.id, next_run_time=missed)
                due.append(job.id)
        return due

    def fire(self, job_id: str):
        """Run a job on schedule: only the lock holder acts, and the run is recorded."""
        with self.app.app_context(), database.connection_context():
            if not (self.is_leader and self._lock.confirm()):
                log.debug("Scheduler %s stands by: %s not run here", self.holder, job_id)
                return None
            return runs.execute(self.jobs[job_id], trigger="schedule", actor=self.actor)

    def next_run_times(self) -> dict[str, dt.datetime | None]:
        return {job.id: job.next_run_time for job in self._aps.get_jobs()}

    def shutdown(self, release: bool = True) -> None:
        """Stop the jobs and the heartbeat, and let the lock go (``release=False`` leaves it
        as a dying process would: the lease runs out, the advisory lock goes with the
        connection)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._aps.running:
            self._aps.shutdown(wait=True)
        if self._lock is not None:
            with self.app.app_context(), database.connection_context():
                if release:
                    self._lock.release()
                elif isinstance(self._lock, AdvisoryLock):
                    self._lock.abandon()
        self.is_leader = False
