"""Deadlines: the upcoming evaluations, annual reports, ends of validity and rectification
deadlines of the carriers a caller may read, from the stored derived dates and the rules of
``lifecycle.DEADLINE_RULES`` (the same the scan raises alerts from), and the roster deadlines
of ``roster_rules.ROSTER_RULES`` (planned 出站, first postdoc, end of incubation)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import peewee as pw

from registry import lifecycle, roster_rules, rosters
from registry.alerts import carrier_summary
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
    default_warn = tuple(lifecycle.Policy().warn_days)
    found: list[Deadline] = []
    for rule in lifecycle.DEADLINE_RULES:
        if kinds and rule.name not in kinds:
            continue
        column = getattr(Carrier, rule.column)
        condition = column.is_null(False) & (column <= end) & Carrier.status.in_(rule.statuses)
        if not include_overdue:
            condition &= column >= today
        for carrier in carriers.select(*COLUMNS).where(condition).namedtuples():
            due_on = getattr(carrier, rule.column)
            found.append(
                Deadline(
                    rule=rule,
                    carrier=carrier,
                    due_on=due_on,
                    days_left=(due_on - today).days,
                    report_year=carrier.next_report_year if rule.name == "report" else None,
                    warn_days=warn.get((carrier.type, carrier.level), default_warn),
                )
            )
    found += _roster_deadlines(carriers, today, end, include_overdue, kinds, warn, default_warn)
    order = list(RULES)
    found.sort(key=lambda d: (d.due_on, order.index(d.rule.name), d.carrier.id))
    return found


def _may_have_roster_deadline(policies: dict, today: dt.date, end: dt.date, overdue: bool):
    """A superset, in SQL, of the carriers with a roster deadline in the window: those with
    roster entries, and postdoctoral carriers whose "first postdoc" deadline (accreditation
    + ``recruit_within_years``, by policy) may fall in it. Reading every carrier of a
    roster type to find out (tens of thousands) is what this spares."""
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
    return Carrier.id.in_(Member.select(Member.carrier)) | recruiting


def _roster_deadlines(carriers, today, end, include_overdue, kinds, warn, default_warn):
    """The roster deadlines of ``carriers`` in the same window (three queries)."""
    names = [rule.name for rule in roster_rules.ROSTER_RULES if not kinds or rule.name in kinds]
    if not names:
        return []
    types = sorted(
        {t for rule in roster_rules.ROSTER_RULES if rule.name in names for t in rule.types}
    )
    policies = rosters.policies()
    rows = list(
        carriers.select(*COLUMNS, Carrier.accredited_on)
        .where(
            Carrier.type.in_(types)
            & Carrier.status.in_(sorted(lifecycle.ACTIVE_STATUSES))
            & _may_have_roster_deadline(policies, today, end, include_overdue)
        )
        .namedtuples()
    )
    found = []
    for carrier, rule, due_on in rosters.deadlines_of(rows, today, policies):
        if rule.name not in names or due_on > end or (due_on < today and not include_overdue):
            continue
        found.append(
            Deadline(
                rule=rule,
                carrier=carrier,
                due_on=due_on,
                days_left=(due_on - today).days,
                report_year=None,
                warn_days=warn.get((carrier.type, carrier.level), default_warn),
            )
        )
    return found
