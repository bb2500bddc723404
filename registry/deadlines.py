"""Deadlines: the upcoming evaluations, annual reports, ends of validity and rectification
deadlines of the carriers a caller may read, from the stored derived dates and the rules of
``lifecycle.DEADLINE_RULES`` (the same the scan raises alerts from), and the roster deadlines
of ``roster_rules.ROSTER_RULES`` (planned 出站, first postdoc, end of incubation)."""

from __future__ import annotations

import datetime as dt
import functools
import heapq
import itertools
import operator
from dataclasses import dataclass
from typing import Any

import peewee as pw

from registry import lifecycle, roster_rules, rosters
from registry.alerts import carrier_summary
from registry.db import not_for_index
from registry.models import Carrier, EvaluationPolicy, Member

#: What a deadline shows of its carrier, read as plain rows (named tuples: thousands of
#: deadlines need no model instances).
COLUMNS = (
    Carrier.id,
    Carrier.name,
    Carrier.type,
    Carrier.level,
    Carrier.status,
    Carrier.host_organization.alias("host_organization_id"),
    Carrier.updated_at,
    Carrier.valid_until,
    Carrier.next_evaluation_on,
    Carrier.next_report_due_on,
    Carrier.next_report_year,
    Carrier.rectify_by,
)
RULES = {rule.name: rule for rule in (*lifecycle.DEADLINE_RULES, *roster_rules.ROSTER_RULES)}


@dataclass(frozen=True)
class Deadline:
    """One deadline of one carrier."""

    rule: lifecycle.DeadlineRule | roster_rules.RosterRule
    carrier: Any  # a row of COLUMNS
    due_on: dt.date
    days_left: int
    report_year: int | None
    warn_days: tuple[int, ...]

    @property
    def uid(self) -> str:
        """Stable identity of the deadline: a report by its year, the others by their date
        (a deadline that moves is another deadline)."""
        key = self.report_year if self.rule.name == "report" else self.due_on.isoformat()
        return f"carrier-{self.carrier.id}-{self.rule.name}-{key}@carrier-registry"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.rule.name,
            "label": self.rule.label,
            "due_on": self.due_on,
            "days_left": self.days_left,
            "report_year": self.report_year,
            "carrier_id": self.carrier.id,
            "carrier": carrier_summary(self.carrier),
            "warn_days": list(self.warn_days),
            "uid": self.uid,
        }


def warn_days_by_policy() -> dict[tuple[str, str], tuple[int, ...]]:
    """``warn_days`` of every type × level with a policy (one query)."""
    return {
        (policy.type, policy.level): tuple(sorted(policy.warn_days or [], reverse=True))
        for policy in EvaluationPolicy.select(
            EvaluationPolicy.type, EvaluationPolicy.level, EvaluationPolicy.warn_days
        )
    }


def deadlines(
    carriers: pw.ModelSelect,
    *,
    today: dt.date,
    within: int,
    include_overdue: bool = False,
    kinds: list[str] | None = None,
) -> list[Deadline]:
    """The deadlines of ``carriers`` (a carrier query, already scoped to the caller) due up
    to ``within`` days after ``today`` (and, with ``include_overdue``, those already past),
    sorted by date, then kind, then carrier. One query per kind of deadline."""
    end = today + dt.timedelta(days=within)
    warn = warn_days_by_policy()
    found: list[Deadline] = []
    for rule in _lifecycle_rules(kinds):
        condition = _due(rule, today, end, include_overdue)
        for carrier in carriers.select(*COLUMNS).where(condition).namedtuples():
            found.append(_deadline(rule, carrier, getattr(carrier, rule.column), today, warn))
    found += _roster_deadlines(carriers, today, end, include_overdue, kinds, warn)
    found.sort(key=_order)
    return found


def page(
    carriers: pw.ModelSelect,
    *,
    today: dt.date,
    within: int,
    include_overdue: bool = False,
    kinds: list[str] | None = None,
    number: int,
    size: int,
) -> tuple[list[Deadline], int]:
    """Page ``number`` (of ``size``) of :func:`deadlines` and how many there are in all,
    without building the others: the lifecycle deadlines are counted, sorted and cut in SQL
    as keys (date, kind, carrier), merged with the roster deadlines (computed as in
    :func:`deadlines`), and only the carriers on the page are read. Building all ~19,000
    deadlines of 100,000 carriers for a page of 50 was half a second of CPU (issue 10). A
    carrier deleted between the two reads is left out of the page."""
    end = today + dt.timedelta(days=within)
    warn = warn_days_by_policy()
    first, stop = (number - 1) * size, number * size
    roster = sorted(
        _roster_deadlines(carriers, today, end, include_overdue, kinds, warn), key=_order
    )
    total, keys = len(roster), []
    rules = _lifecycle_rules(kinds)
    if rules:
        branches = [
            carriers.select(
                getattr(Carrier, rule.column).alias("due_on"),
                pw.SQL(str(ORDER.index(rule.name))).alias("rank"),
                Carrier.id.alias("carrier_id"),
            )
            .where(_due(rule, today, end, include_overdue))
            .order_by()
            for rule in rules
        ]
        union = functools.reduce(operator.add, branches)  # UNION ALL
        total += union.count()
        ordered = union.order_by(pw.SQL("due_on"), pw.SQL("rank"), pw.SQL("carrier_id"))
        keys = [(_day(due), rank, cid) for due, rank, cid in ordered.limit(stop).tuples()]
    merged = heapq.merge(
        ((*key, None) for key in keys),
        ((*_order(item), item) for item in roster),
        key=lambda entry: entry[:3],  # never the deadlines themselves (not comparable)
    )
    chosen = list(itertools.islice(merged, first, stop))
    ids = [cid for _, _, cid, item in chosen if item is None]
    rows = {}
    if ids:
        query = carriers.select(*COLUMNS).where(Carrier.id.in_(ids)).order_by()
        rows = {row.id: row for row in query.namedtuples()}
    items = []
    for due_on, rank, cid, item in chosen:
        if item is None and cid in rows:
            item = _deadline(RULES[ORDER[rank]], rows[cid], due_on, today, warn)
        if item is not None:
            items.append(item)
    return items, total


#: Deadlines are sorted by date, then kind in this order, then carrier.
ORDER = list(RULES)


def _order(item: Deadline) -> tuple:
    return (item.due_on, ORDER.index(item.rule.name), item.carrier.id)


def _day(value) -> dt.date:
    """A date as the driver gives it (SQLite: ISO text)."""
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _lifecycle_rules(kinds: list[str] | None) -> list[lifecycle.DeadlineRule]:
    return [rule for rule in lifecycle.DEADLINE_RULES if not kinds or rule.name in kinds]


def _due(rule: lifecycle.DeadlineRule, today: dt.date, end: dt.date, include_overdue: bool):
    """The carriers with a deadline of ``rule`` in the window, as a query condition."""
    column = getattr(Carrier, rule.column)
    # The date's range picks the index (migration 18), never the status: most carriers
    # have one of the statuses a deadline counts in.
    status = not_for_index(Carrier.status).in_(rule.statuses)
    condition = column.is_null(False) & (column <= end) & status
    if not include_overdue:
        condition &= column >= today
    return condition


def _deadline(rule, carrier, due_on: dt.date, today: dt.date, warn: dict) -> Deadline:
    """The deadline of ``rule`` due on ``due_on`` of ``carrier`` (a row of COLUMNS)."""
    return Deadline(
        rule=rule,
        carrier=carrier,
        due_on=due_on,
        days_left=(due_on - today).days,
        report_year=carrier.next_report_year if rule.name == "report" else None,
        warn_days=warn.get((carrier.type, carrier.level), DEFAULT_WARN),
    )


#: The warning windows of a type × level without a policy.
DEFAULT_WARN = tuple(lifecycle.Policy().warn_days)


def _may_have_roster_deadline(
    policies: dict, today: dt.date, end: dt.date, overdue: bool
) -> list[pw.Expression]:
    """A superset, in SQL, of the carriers with a roster deadline in the window, as two
    conditions read one after the other: those with roster entries, and postdoctoral
    carriers whose "first postdoc" deadline (accreditation + ``recruit_within_years``, by
    policy) may fall in it. Reading every carrier of a roster type to find out (tens of
    thousands) is what this spares; two reads, each on its own index, because neither
    engine answers their ``OR`` from both indexes beside the other filters."""
    years = [policy.recruit_within_years for policy in policies.values()]
    years.append(roster_rules.RosterPolicy().recruit_within_years)
    # 365 days per year at most and 366 at least: the bounds only ever widen the set.
    recruiting = (
        Carrier.type.in_(sorted(roster_rules.POSTDOC_TYPES))
        & Carrier.accredited_on.is_null(False)
        & (Carrier.accredited_on <= end - dt.timedelta(days=365 * min(years)))
    )
    if not overdue:
        recruiting &= Carrier.accredited_on >= today - dt.timedelta(days=366 * max(years) + 1)
    return [Carrier.id.in_(Member.select(Member.carrier)), recruiting]


def _roster_deadlines(carriers, today, end, include_overdue, kinds, warn):
    """The roster deadlines of ``carriers`` in the same window (four queries)."""
    names = [rule.name for rule in roster_rules.ROSTER_RULES if not kinds or rule.name in kinds]
    if not names:
        return []
    types = sorted(
        {t for rule in roster_rules.ROSTER_RULES if rule.name in names for t in rule.types}
    )
    policies = rosters.policies()
    # The candidates are found by the index of each condition of _may_have_roster_deadline,
    # not by type or status (most carriers have one of them).
    concerned = carriers.select(*COLUMNS, Carrier.accredited_on).where(
        not_for_index(Carrier.type).in_(types)
        & not_for_index(Carrier.status).in_(sorted(lifecycle.ACTIVE_STATUSES))
    )
    rows = {
        row.id: row
        for condition in _may_have_roster_deadline(policies, today, end, include_overdue)
        for row in concerned.where(condition).order_by().namedtuples()
    }
    rows = [rows[carrier_id] for carrier_id in sorted(rows)]
    found = []
    for carrier, rule, due_on in rosters.deadlines_of(rows, today, policies):
        if rule.name not in names or due_on > end or (due_on < today and not include_overdue):
            continue
        found.append(_deadline(rule, carrier, due_on, today, warn))
    return found
