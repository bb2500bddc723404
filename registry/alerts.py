"""Alerts (SPEC §3.3): the one place that decides which alerts a carrier has, and how they
are shown, listed and acknowledged.

:func:`reconcile` brings the alerts of a set of carriers in line with the rules for a day.
The daily scan (``jobs/scan.py``) calls it for every batch of 1,000 carriers; every write
that moves a carrier's deadlines (a milestone recorded or voided, an annual report submitted
or reviewed, a policy edited, an override of ``valid_until`` or ``next_evaluation_on``, an
evaluation campaign recorded, edited or deleted) calls :func:`reconcile_carriers` for the
carriers concerned in its own transaction, so alerts follow the work at once. People only
read and acknowledge alerts.

The rules, for a day D:

1. For each rule of ``lifecycle.DEADLINE_RULES`` whose statuses include the carrier's, the
   stored date (``next_evaluation_on``, ``next_report_due_on``, ``valid_until``,
   ``rectify_by``) raises the rule's due alert when it is 0 to ``max(warn_days)`` days
   after D, and its overdue alert once it is before D (``lifecycle.alert_kind``). The
   validity rule applies only where the policy says validity lapses by the calendar.
2. Each evaluation campaign announced by D (``opened_on`` ≤ D) covering the carrier raises
   the evaluation rule's alerts for its ``materials_due_on`` the same way, until an
   evaluation (any result) dated from ``opened_on`` to D is recorded for the carrier.
3. A wanted alert that does not exist is inserted (``alert.opened``); a resolved one with
   the same carrier, kind and due date is reopened (``alert.opened``); an unresolved alert
   of a managed kind that is no longer wanted is resolved (``alert.resolved``); ``days_left``
   of the others is brought to D.

A fixed number of queries per call (plus one outbox row per alert opened or resolved),
whatever the number of carriers.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from registry import audit, clock, db, lifecycle, roster_rules, rosters, writes
from registry.db import locked, utcnow, write_transaction
from registry.errors import DomainError
from registry.models import Alert, Carrier, EvaluationCampaign, EvaluationPolicy, Milestone

#: Columns of the carrier summary embedded in every alert.
CARRIER_SUMMARY_COLUMNS = (
    Carrier.id,
    Carrier.name,
    Carrier.type,
    Carrier.level,
    Carrier.status,
    Carrier.host_organization,
)


def carrier_summary(carrier: Carrier) -> dict[str, Any]:
    """The short carrier description embedded in alerts and their events."""
    return {
        "id": carrier.id,
        "name": carrier.name,
        "type": carrier.type,
        "level": carrier.level,
        "status": carrier.status,
        "host_organization_id": carrier.host_organization_id,
    }


def as_dict(alert: Alert, carrier: Carrier | None = None) -> dict[str, Any]:
    """An alert as the API and its events show it."""
    carrier = carrier if carrier is not None else alert.carrier
    return {
        "id": alert.id,
        "carrier_id": alert.carrier_id,
        "carrier": carrier_summary(carrier),
        "kind": alert.kind,
        "due_on": alert.due_on,
        "days_left": alert.days_left,
        "status": alert.status,
        "opened_on": alert.opened_on,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by,
        "resolved_on": alert.resolved_on,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
    }


def with_carrier() -> pw.ModelSelect:
    """Alerts joined with the carrier summary (one query for a page)."""
    return Alert.select(Alert, *CARRIER_SUMMARY_COLUMNS).join(Carrier)


def load(alert_id: int) -> Alert | None:
    return with_carrier().where(Alert.id == alert_id).first()


def acknowledge(alert: Alert, actor: str | None = None) -> Alert:
    """Mark an alert acknowledged: it stays unresolved until the scan finds its condition gone.

    Acknowledging an acknowledged or resolved alert is a conflict (409): the first
    acknowledgement, with its time and actor, is what the record keeps.
    """
    actor = actor or audit.current_actor()
    with write_transaction():
        alert = locked(Alert.select().where(Alert.id == alert.id)).get()
        if alert.status != "open":
            raise DomainError(
                409, f"Alert {alert.id} is {alert.status}; only an open alert can be acknowledged."
            )
        before = audit.jsonable(as_dict(load(alert.id)))
        alert.status = "acknowledged"
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = actor
        alert.version += 1
        alert.updated_at = utcnow()
        alert.save()
        alert = load(alert.id)
        audit.record_change(
            "update", "alert", alert.id, before, audit.jsonable(as_dict(alert)), actor=actor
        )
    return alert


# --- reconciliation -------------------------------------------------------------------------

#: Carriers reconciled per call of :func:`reconcile` (the scan's batch size too).
BATCH_SIZE = 1000

#: Carrier rows are read as named tuples: building a model instance per row would cost more
#: than the rest of the scan.
CARRIER_COLUMNS = (
    Carrier.id,
    Carrier.name,
    Carrier.type,
    Carrier.level,
    Carrier.status,
    Carrier.host_organization.alias("host_organization_id"),
    Carrier.accredited_on,
    Carrier.valid_until,
    Carrier.next_evaluation_on,
    Carrier.next_report_due_on,
    Carrier.rectify_by,
)

#: Every alert kind reconciliation manages: the deadline rules' and the roster rules'.
MANAGED_KINDS = lifecycle.SCAN_ALERT_KINDS + roster_rules.ROSTER_ALERT_KINDS

ALERT_COLUMNS = (
    Alert.id,
    Alert.carrier.alias("carrier_id"),
    Alert.kind,
    Alert.due_on,
    Alert.days_left,
)

Key = tuple[int, str, dt.date]

#: The rule a campaign's materials deadline follows: the evaluation's.
EVALUATION_RULE = next(rule for rule in lifecycle.DEADLINE_RULES if rule.name == "evaluation")


@dataclass(frozen=True)
class Campaign:
    """What the rules need of an evaluation campaign."""

    id: int
    types: frozenset[str]
    levels: frozenset[str]
    accredited_before: dt.date | None
    opened_on: dt.date
    due_on: dt.date

    def covers(self, row) -> bool:
        """Whether the campaign covers a carrier: of one of its types and levels (every level
        when none is named), accredited before ``accredited_before`` (when set), and in a
        status the evaluation rule concerns. :func:`covered_carriers` is the same rule in SQL.
        """
        return (
            row.type in self.types
            and (not self.levels or row.level in self.levels)
            and row.status in EVALUATION_RULE.statuses
            and row.accredited_on is not None
            and (
                self.accredited_before is None
                or as_date(row.accredited_on) < self.accredited_before
            )
        )


def covered_carriers(campaign: EvaluationCampaign) -> pw.ModelSelect:
    """The ids of the carriers a campaign covers (the rule of :meth:`Campaign.covers`)."""
    condition = (
        Carrier.type.in_(sorted(campaign.types or []))
        & Carrier.status.in_(sorted(EVALUATION_RULE.statuses))
        & Carrier.accredited_on.is_null(False)
    )
    if campaign.levels:
        condition &= Carrier.level.in_(sorted(campaign.levels))
    if campaign.accredited_before is not None:
        condition &= Carrier.accredited_on < campaign.accredited_before
    return Carrier.select(Carrier.id).where(condition)


def campaign_facts(campaign: EvaluationCampaign) -> Campaign:
    return Campaign(
        id=campaign.id,
        types=frozenset(campaign.types or []),
        levels=frozenset(campaign.levels or []),
        accredited_before=campaign.accredited_before,
        opened_on=campaign.opened_on,
        due_on=campaign.materials_due_on,
    )


@dataclass(frozen=True)
class Rules:
    """The stored rules the reconciliation reads: the warning window and ``lapses`` of every
    type × level with a policy, and the evaluation campaigns (two queries)."""

    windows: dict[tuple[str, str], int]
    non_lapsing: frozenset[tuple[str, str]]
    campaigns: tuple[Campaign, ...]

    def window(self, row) -> int:
        return self.windows.get((row.type, row.level), DEFAULT_WINDOW)

    def lapses(self, row) -> bool:
        """Whether the carrier's validity lapses by the calendar (true without a policy)."""
        return (row.type, row.level) not in self.non_lapsing

    def campaigns_on(self, day: dt.date) -> list[Campaign]:
        """The campaigns announced by ``day``."""
        return [campaign for campaign in self.campaigns if campaign.opened_on <= day]


#: Window of a carrier without a policy: the default ``warn_days`` of SPEC §3.1.
DEFAULT_WINDOW = lifecycle.warn_window(lifecycle.Policy().warn_days)


def load_rules() -> Rules:
    """The policies' windows and lapse flags, and the campaigns (two queries)."""
    windows, non_lapsing = {}, set()
    for policy in EvaluationPolicy.select(
        EvaluationPolicy.type,
        EvaluationPolicy.level,
        EvaluationPolicy.warn_days,
        EvaluationPolicy.lapses,
    ):
        windows[(policy.type, policy.level)] = lifecycle.warn_window(policy.warn_days)
        if not policy.lapses:
            non_lapsing.add((policy.type, policy.level))
    campaigns = tuple(
        campaign_facts(campaign)
        for campaign in EvaluationCampaign.select().order_by(EvaluationCampaign.id)
    )
    return Rules(windows, frozenset(non_lapsing), campaigns)


@dataclass
class Reconciled:
    """What reconciliation did (summed over the calls of one scan)."""

    opened: Counter = field(default_factory=Counter)
    resolved: Counter = field(default_factory=Counter)
    days_left_updated: int = 0
    #: Carriers whose alerts were opened, reopened or resolved.
    changed_carriers: set[int] = field(default_factory=set)


def wanted_alerts(
    rows: Iterable, day: dt.date, rules: Rules, evaluated: dict[int, dt.date] | None = None
) -> dict[Key, int]:
    """The alerts the carriers should have on ``day``: (carrier, kind, due date) → days left.

    ``evaluated``: carrier id → its latest evaluation dated up to ``day`` (for campaigns).
    """
    wanted: dict[Key, int] = {}
    campaigns = rules.campaigns_on(day)
    evaluated = evaluated or {}
    for row in rows:
        window = rules.window(row)
        for rule in lifecycle.DEADLINE_RULES:
            due_on = getattr(row, rule.column)
            if due_on is None or row.status not in rule.statuses:
                continue
            if rule.lapsing_only and not rules.lapses(row):
                continue
            kind = lifecycle.alert_kind(rule, due_on, day, window)
            if kind:
                wanted[(row.id, kind, due_on)] = (due_on - day).days
        if row.status not in EVALUATION_RULE.statuses:
            continue
        last_evaluation = evaluated.get(row.id)
        for campaign in campaigns:
            if not campaign.covers(row):
                continue
            if last_evaluation is not None and last_evaluation >= campaign.opened_on:
                continue
            kind = lifecycle.alert_kind(EVALUATION_RULE, campaign.due_on, day, window)
            if kind:
                wanted[(row.id, kind, campaign.due_on)] = (campaign.due_on - day).days
    return wanted


def latest_evaluations(of_carriers, since: dt.date, day: dt.date) -> dict[int, dt.date]:
    """carrier id → its latest non-voided evaluation dated from ``since`` to ``day``."""
    return {
        carrier_id: as_date(on)
        for carrier_id, on in Milestone.select(Milestone.carrier, pw.fn.MAX(Milestone.occurred_on))
        .where(
            of_carriers
            & Milestone.kind.in_(sorted(lifecycle.EVALUATION_KINDS))
            & (Milestone.voided == False)  # noqa: E712
            & (Milestone.occurred_on >= since)
            & (Milestone.occurred_on <= day)
        )
        .group_by(Milestone.carrier)
        .tuples()
    }


def reconcile(
    rows: list,
    day: dt.date,
    rules: Rules,
    *,
    contiguous: bool = False,
    moved: Collection[int] = (),
) -> Reconciled:
    """Bring the alerts of the carriers ``rows`` (read with :data:`CARRIER_COLUMNS`, sorted
    by id) in line with the rules on ``day``; call inside the transaction of the write or of
    the scan's batch.

    ``contiguous``: the rows are every carrier of their id range (the scan's batches), so
    the alerts are selected by that range, cheaper than sending a thousand ids.

    The version of every carrier whose alerts opened or resolved moves on (its ETag covers
    ``open_alert_count``), except the carriers in ``moved``: the write calling this has
    moved their version in the same transaction already, so one write is one version.
    """
    done = Reconciled()
    if not rows:
        return done
    by_id = {row.id: row for row in rows}
    if contiguous:
        # The carrier index must serve the range, not the far less selective index on kind.
        alerts_of = Alert.carrier.between(rows[0].id, rows[-1].id)
        milestones_of = Milestone.carrier.between(rows[0].id, rows[-1].id)
    else:
        alerts_of = Alert.carrier.in_(sorted(by_id))
        milestones_of = Milestone.carrier.in_(sorted(by_id))
    of_batch = alerts_of & db.not_for_index(Alert.kind).in_(MANAGED_KINDS)
    campaigns = rules.campaigns_on(day)
    evaluated = {}
    if campaigns and any(campaign.covers(row) for row in rows for campaign in campaigns):
        since = min(campaign.opened_on for campaign in campaigns)
        evaluated = latest_evaluations(milestones_of, since, day)
    wanted = wanted_alerts(rows, day, rules, evaluated)
    wanted |= rosters.wanted_alerts(rows, day, rules.window)
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
        # A concurrent write may have opened the same alert: one per carrier, kind, date.
        db.insert_rows(Alert, rows_to_insert, ignore_conflicts=True)
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
    done.days_left_updated += (
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
    if changed_ids:
        # Events carry the alert as the API shows it after the change (one INSERT per
        # couple of hundred events: the scan's first day opens thousands).
        events = []
        for alert in Alert.select().where(Alert.id.in_(changed_ids)).order_by(Alert.id):
            event = "alert.opened" if alert.status == "open" else "alert.resolved"
            (done.opened if event == "alert.opened" else done.resolved)[alert.kind] += 1
            done.changed_carriers.add(alert.carrier_id)
            data = {"alert": as_dict(alert, by_id[alert.carrier_id])}
            events.append(audit.event_row(event, data, alert.carrier_id))
        audit.emit_many(events)
    # A carrier shows its open-alert count: its ETag must change with it, in the same
    # transaction (a write that reconciles its own carrier re-reads it afterwards).
    writes.bump_versions(Carrier, done.changed_carriers - set(moved))
    return done


#: The carriers noted by writes inside :func:`deferred` (None outside it).
_deferred: ContextVar[set[int] | None] = ContextVar("deferred_alerts", default=None)


@contextmanager
def deferred(day: dt.date | None = None) -> Iterator[None]:
    """Reconcile once, on leaving, the carriers that the writes inside would each reconcile.

    For bulk loads that write a carrier's history piece by piece (the demo loader): one
    reconciliation per carrier instead of one per write, and no alert opened by one write
    only to be resolved by the next. Use inside the load's transaction; nothing is
    reconciled when the block raises.
    """
    pending: set[int] = set()
    token = _deferred.set(pending)
    try:
        yield
    finally:
        _deferred.reset(token)
    reconcile_carriers(pending, day)


def reconcile_carriers(
    carrier_ids: Iterable[int],
    day: dt.date | None = None,
    rules: Rules | None = None,
    *,
    moved: Collection[int] = (),
) -> Reconciled:
    """Reconcile the alerts of some carriers on ``day`` (today by default), for a write that
    moved their deadlines; call inside the write's transaction, after the carrier's stored
    dates were refreshed. Inside :func:`deferred` the carriers are only noted."""
    ids = sorted(set(carrier_ids))
    done = Reconciled()
    pending = _deferred.get()
    if pending is not None:
        pending.update(ids)
        return done
    if not ids:
        return done
    day = day or clock.today()
    rules = rules or load_rules()
    for start in range(0, len(ids), BATCH_SIZE):
        rows = list(
            Carrier.select(*CARRIER_COLUMNS)
            .where(Carrier.id.in_(ids[start : start + BATCH_SIZE]))
            .order_by(Carrier.id)
            .namedtuples()
        )
        part = reconcile(rows, day, rules, moved=moved)
        done.opened.update(part.opened)
        done.resolved.update(part.resolved)
        done.days_left_updated += part.days_left_updated
        done.changed_carriers |= part.changed_carriers
    return done


def as_date(value) -> dt.date | None:
    """A date read back from a query (SQLite returns aggregates as text)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
