"""The deadline scan (SPEC §3.3): the daily sweep and back-fill of alerts, and the expiry of
lapsed accreditations.

The rules live in ``registry.alerts`` (which alerts a carrier has) and
``registry.milestones.expire_lapsed`` (which carriers lapse); the writes that move a
carrier's deadlines apply the same rules to that carrier at once. The scan applies them to
every carrier for a day D, in batches of ``BATCH_SIZE`` carriers with a fixed number of
queries per batch (never one per carrier except for status changes):

1. lapsed carriers of the batch get their ``expired`` milestone (audited, with its
   ``milestone.recorded`` event), and the batch is re-read;
2. ``alerts.reconcile`` opens, reopens, resolves and updates the batch's alerts.

Each batch is one transaction holding the scan lock (an advisory transaction lock on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two scans never interleave and a scan run
twice for the same day changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from registry import alerts, clock, db, milestones
from registry.db import database
from registry.models import Carrier

BATCH_SIZE = alerts.BATCH_SIZE
#: Key of the PostgreSQL advisory transaction lock serialising scan batches.
SCAN_LOCK_KEY = 0x5245_4753_4341_4E00  # "REGSCAN"


@dataclass
class ScanResult:
    """What one scan did."""

    as_of: dt.date
    carriers: int = 0
    opened: Counter = field(default_factory=Counter)
    resolved: Counter = field(default_factory=Counter)
    days_left_updated: int = 0
    expired: list[int] = field(default_factory=list)
    #: Carriers whose expiry the lifecycle refused (their history is inconsistent).
    expiry_failures: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        """The run-log summary (plain JSON)."""
        return {
            "as_of": self.as_of.isoformat(),
            "carriers": self.carriers,
            "opened": sum(self.opened.values()),
            "resolved": sum(self.resolved.values()),
            "days_left_updated": self.days_left_updated,
            "expired": len(self.expired),
            "expiry_failures": len(self.expiry_failures),
            "opened_by_kind": dict(sorted(self.opened.items())),
            "resolved_by_kind": dict(sorted(self.resolved.items())),
        }


def run() -> dict[str, Any]:
    """The scheduled job: scan for today (in the configured time zone)."""
    return scan(clock.today()).counts()


def scan(
    day: dt.date,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> ScanResult:
    """Scan every carrier as of ``day``; ``progress(done, total)`` is called after each batch."""
    result = ScanResult(as_of=day)
    rules = alerts.load_rules()
    total = Carrier.select().count() if progress else 0
    after = 0
    while True:
        with _batch_transaction():
            rows = list(
                Carrier.select(*alerts.CARRIER_COLUMNS)
                .where(Carrier.id > after)
                .order_by(Carrier.id)
                .limit(batch_size)
                .namedtuples()
            )
            if rows:
                rows = _expire_lapsed(rows, day, rules, result)
                done = alerts.reconcile(rows, day, rules, contiguous=True)
                result.opened.update(done.opened)
                result.resolved.update(done.resolved)
                result.days_left_updated += done.days_left_updated
        if not rows:
            break
        after = rows[-1].id
        result.carriers += len(rows)
        if progress:
            progress(result.carriers, max(total, result.carriers))
    return result


@contextmanager
def _batch_transaction() -> Iterator[None]:
    with db.write_transaction():
        if db.is_postgres():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (SCAN_LOCK_KEY,))
        yield


def _expire_lapsed(rows: list, day: dt.date, rules: alerts.Rules, result: ScanResult) -> list:
    """Expire the lapsed carriers of a batch; return the batch re-read."""
    expired, failures = milestones.expire_lapsed(rows, day, rules)
    result.expired += expired
    result.expiry_failures += failures
    if not expired:
        return rows
    fresh = {
        row.id: row
        for row in Carrier.select(*alerts.CARRIER_COLUMNS)
        .where(Carrier.id.in_(expired))
        .namedtuples()
    }
    return [fresh.get(row.id, row) for row in rows]
