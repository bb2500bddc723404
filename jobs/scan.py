"""The deadline scan (SPEC §3.3): alerts for evaluations, annual reports, validity and
rectification, and expiry of lapsed accreditations.

For a day D the scan walks every carrier in batches (``BATCH_SIZE`` carriers, a fixed
number of queries per batch, never one per carrier except for status changes):

1. An accredited carrier whose ``valid_until`` is before D (``lifecycle.lapsed``) is moved
   to ``expired`` by an ``expired`` milestone dated the day after ``valid_until``, through
   ``registry.milestones.record_milestone`` (audited, ``milestone.recorded`` event).
2. For each rule of ``lifecycle.DEADLINE_RULES`` whose statuses include the carrier's, the
   stored date (``next_evaluation_on``, ``next_report_due_on``, ``valid_until``,
   ``rectify_by``) raises the rule's due alert when it is 0 to ``max(warn_days)`` days
   after D, and its overdue alert once it is before D (``lifecycle.alert_kind``).
   The roster rules (``roster_rules.ROSTER_RULES``, via ``rosters.wanted_alerts``) add
   ``postdoc_overstay``, ``no_postdoc_recruited`` and ``incubation_overdue`` from the
   batch's rosters (two more queries per batch), open from the window's start until their
   condition is gone.
3. Alerts are reconciled with what is wanted: a wanted alert that does not exist is
   inserted (``alert.opened``); a resolved one with the same carrier, kind and due date is
   reopened (``alert.opened``); an unresolved alert of a scan kind that is no longer wanted
   is resolved (``alert.resolved``): its date moved, the carrier's status changed, or its
   due alert gave way to the overdue one; ``days_left`` of the others is brought to D.

Each batch is one transaction holding the scan lock (an advisory transaction lock on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two scans never interleave and a scan run
twice for the same day changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from registry import alerts, audit, clock, db, lifecycle, milestones, roster_rules, rosters, writes
from registry.db import database, utcnow
from registry.errors import DomainError
from registry.models import Alert, Carrier, EvaluationPolicy, Milestone

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
#: Rows per INSERT statement (SQLite's limit on bound parameters).
INSERT_CHUNK = 500
ACTOR = "system (scan)"
#: Key of the PostgreSQL advisory transaction lock serialising scan batches.
SCAN_LOCK_KEY = 0x5245_4753_4341_4E00  # "REGSCAN"

#: Rows are read as named tuples: building a model instance per row would cost more than
#: the rest of the scan.
CARRIER_COLUMNS = (
    Carrier.id,
    Carrier.name,
    Carrier.type,
    Carrier.level,
    Carrier.status,
    Carrier.host_organization.alias("host_organization_id"),
    Carrier.valid_until,
    Carrier.next_evaluation_on,
    Carrier.next_report_due_on,
    Carrier.rectify_by,
    Carrier.accredited_on,
)

#: Every alert kind the scan manages: the deadline rules' and the roster rules'.
MANAGED_KINDS = lifecycle.SCAN_ALERT_KINDS + roster_rules.ROSTER_ALERT_KINDS

ALERT_COLUMNS = (
    Alert.id,
    Alert.carrier.alias("carrier_id"),
    Alert.kind,
    Alert.due_on,
    Alert.days_left,
)

Key = tuple[int, str, dt.date]


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
    windows = warn_windows()
    total = Carrier.select().count() if progress else 0
    after = 0
    while True:
        with _batch_transaction():
            rows = list(
                Carrier.select(*CARRIER_COLUMNS)
                .where(Carrier.id > after)
                .order_by(Carrier.id)
                .limit(batch_size)
                .namedtuples()
            )
            if rows:
                rows = _expire_lapsed(rows, day, result)
                _reconcile(rows, day, windows, result)
        if not rows:
            break
        after = rows[-1].id
        result.carriers += len(rows)
        if progress:
            progress(result.carriers, max(total, result.carriers))
    return result


def warn_windows() -> dict[tuple[str, str], int]:
    """The warning window of every type × level with a policy (one query)."""
    return {
        (policy.type, policy.level): lifecycle.warn_window(policy.warn_days)
        for policy in EvaluationPolicy.select(
            EvaluationPolicy.type, EvaluationPolicy.level, EvaluationPolicy.warn_days
        )
    }


#: Window of a carrier without a policy: the default ``warn_days`` of SPEC §3.1.
DEFAULT_WINDOW = lifecycle.warn_window(lifecycle.Policy().warn_days)


@contextmanager
def _batch_transaction() -> Iterator[None]:
    with db.write_transaction():
        if db.is_postgres():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (SCAN_LOCK_KEY,))
        yield


def _expire_lapsed(rows: list, day: dt.date, result: ScanResult) -> list:
    """Record ``expired`` for the lapsed carriers of a batch; return the batch re-read."""
    lapsed = [row for row in rows if lifecycle.lapsed(row.status, row.valid_until, day)]
    if not lapsed:
        return rows
    latest = dict(
        Milestone.select(Milestone.carrier, pw.fn.MAX(Milestone.occurred_on))
        .where(Milestone.carrier.in_([row.id for row in lapsed]) & (Milestone.voided == False))  # noqa: E712
        .group_by(Milestone.carrier)
        .tuples()
    )
    for row in lapsed:
        # Never before a milestone already recorded, so the history replays in order.
        occurred_on = max(
            filter(None, [lifecycle.expiry_date(row.valid_until), _as_date(latest.get(row.id))])
        )
        note = (
            f"Validity ended on {row.valid_until.isoformat()} without a passing evaluation "
            f"(scan of {day.isoformat()})."
        )
        try:
            milestones.record_milestone(
                row, {"kind": "expired", "occurred_on": occurred_on, "note": note}, actor=ACTOR
            )
        except (lifecycle.LifecycleError, DomainError) as error:
            # A history the lifecycle refuses must not stop the scan of every other carrier.
            log.warning("Carrier %s could not be expired: %s", row.id, error)
            result.expiry_failures.append(row.id)
            continue
        result.expired.append(row.id)
    fresh = {
        row.id: row
        for row in Carrier.select(*CARRIER_COLUMNS)
        .where(Carrier.id.in_([row.id for row in lapsed]))
        .namedtuples()
    }
    return [fresh.get(row.id, row) for row in rows]


def _as_date(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def wanted_alerts(
    rows: Iterable, day: dt.date, windows: dict[tuple[str, str], int]
) -> dict[Key, int]:
    """The alerts the carriers should have on ``day``: (carrier, kind, due date) → days left."""
    wanted: dict[Key, int] = {}
    for row in rows:
        window = windows.get((row.type, row.level), DEFAULT_WINDOW)
        for rule in lifecycle.DEADLINE_RULES:
            due_on = getattr(row, rule.column)
            if due_on is None or row.status not in rule.statuses:
                continue
            kind = lifecycle.alert_kind(rule, due_on, day, window)
            if kind:
                wanted[(row.id, kind, due_on)] = (due_on - day).days
    return wanted


def _reconcile(
    rows: list, day: dt.date, windows: dict[tuple[str, str], int], result: ScanResult
) -> None:
    by_id = {row.id: row for row in rows}
    wanted = wanted_alerts(rows, day, windows)
    wanted |= rosters.wanted_alerts(
        rows, day, lambda row: windows.get((row.type, row.level), DEFAULT_WINDOW)
    )
    # A batch is a range of carrier ids: cheaper to send than a thousand ids, and the
    # carrier index must serve it (not the far less selective index on kind).
    of_batch = Alert.carrier.between(rows[0].id, rows[-1].id) & db.not_for_index(Alert.kind).in_(
        MANAGED_KINDS
    )
    existing = {
        (alert.carrier_id, alert.kind, alert.due_on): alert
        for alert in Alert.select(*ALERT_COLUMNS)
        .where(of_batch & (Alert.status != "resolved"))
        .namedtuples()
    }
    to_resolve = [alert for key, alert in existing.items() if key not in wanted]
    missing = [key for key in wanted if key not in existing]
    reopened = []
    if missing:
        missing_keys = set(missing)
        reopened = [
            alert
            for alert in Alert.select(*ALERT_COLUMNS)
            .where(
                of_batch
                & (Alert.status == "resolved")
                & Alert.due_on.in_(sorted({key[2] for key in missing}))
            )
            .namedtuples()
            if (alert.carrier_id, alert.kind, alert.due_on) in missing_keys
        ]
    reopened_keys = {(alert.carrier_id, alert.kind, alert.due_on) for alert in reopened}
    new_keys = [key for key in missing if key not in reopened_keys]
    now = utcnow()

    if new_keys:
        rows_to_insert = [
            {
                "carrier": carrier_id,
                "kind": kind,
                "due_on": due_on,
                "days_left": wanted[(carrier_id, kind, due_on)],
                "status": "open",
                "opened_on": day,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
            for carrier_id, kind, due_on in new_keys
        ]
        for start in range(0, len(rows_to_insert), INSERT_CHUNK):
            Alert.insert_many(rows_to_insert[start : start + INSERT_CHUNK]).execute()
    if reopened:
        Alert.update(
            status="open",
            opened_on=day,
            resolved_on=None,
            acknowledged_at=None,
            acknowledged_by=None,
            days_left=db.days_until(Alert.due_on, day),
            version=Alert.version + 1,
            updated_at=now,
        ).where(Alert.id.in_([alert.id for alert in reopened])).execute()
    if to_resolve:
        Alert.update(
            status="resolved", resolved_on=day, version=Alert.version + 1, updated_at=now
        ).where(Alert.id.in_([alert.id for alert in to_resolve])).execute()
    days_left = db.days_until(Alert.due_on, day)
    result.days_left_updated += (
        Alert.update(days_left=days_left, version=Alert.version + 1, updated_at=now)
        .where(of_batch & (Alert.status != "resolved") & (Alert.days_left != days_left))
        .execute()
    )

    opened_ids = [alert.id for alert in reopened]
    if new_keys:
        new_set = set(new_keys)
        opened_ids += [
            alert.id
            for alert in Alert.select(*ALERT_COLUMNS)
            .where(of_batch & (Alert.status == "open") & (Alert.opened_on == day))
            .namedtuples()
            if (alert.carrier_id, alert.kind, alert.due_on) in new_set
        ]
    changed_ids = opened_ids + [alert.id for alert in to_resolve]
    # A carrier shows its open-alert count: its ETag must change with it (same transaction).
    writes.bump_versions(
        Carrier, {key[0] for key in new_keys} | {a.carrier_id for a in reopened + to_resolve}
    )
    if changed_ids:
        # Events carry the alert as the API shows it after the change.
        for alert in Alert.select().where(Alert.id.in_(changed_ids)).order_by(Alert.id):
            event = "alert.opened" if alert.status == "open" else "alert.resolved"
            (result.opened if event == "alert.opened" else result.resolved)[alert.kind] += 1
            audit.emit(event, {"alert": alerts.as_dict(alert, by_id[alert.carrier_id])})
