"""The scheduled jobs: one line each (id, description, function, schedule).

A job function takes no argument and returns a JSON object of counts, which the run log
keeps. Schedules name a setting of ``registry.config`` so that they come from the
configuration; cron expressions are read in the configured time zone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from jobs import deliver, digest, scan


@dataclass(frozen=True)
class Cron:
    """A cron schedule read from the setting ``setting`` (five fields, e.g. ``0 8 * * *``)."""

    setting: str

    def build(self, config: dict[str, Any]) -> BaseTrigger:
        return CronTrigger.from_crontab(config[self.setting], timezone=ZoneInfo(config["TIMEZONE"]))

    def describe(self, config: dict[str, Any]) -> str:
        return f"cron {config[self.setting]} ({config['TIMEZONE']})"


@dataclass(frozen=True)
class Every:
    """A fixed interval in seconds read from the setting ``setting``."""

    setting: str

    def build(self, config: dict[str, Any]) -> BaseTrigger:
        return IntervalTrigger(
            seconds=int(config[self.setting]), timezone=ZoneInfo(config["TIMEZONE"])
        )

    def describe(self, config: dict[str, Any]) -> str:
        return f"every {config[self.setting]} s"


@dataclass(frozen=True)
class Job:
    """A scheduled job."""

    id: str
    description: str
    func: Callable[[], dict[str, Any]]
    schedule: Cron | Every


#: Every scheduled job.
JOBS: list[Job] = [
    Job(
        "scan",
        "Daily deadline scan: opens, updates and resolves alerts, expires lapsed carriers",
        scan.run,
        Cron("SCAN_CRON"),
    ),
    Job(
        "digest",
        "Weekly digest of the week's new and still-open alerts (digest.weekly event)",
        digest.run,
        Cron("DIGEST_CRON"),
    ),
    Job(
        "deliver",
        "Deliver pending webhook events (signed, in order, with retries)",
        deliver.deliver_pending,
        Every("DELIVER_SECONDS"),
    ),
]


def get(job_id: str) -> Job | None:
    """The job with this id, or None."""
    return next((job for job in JOBS if job.id == job_id), None)
