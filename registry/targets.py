"""Targets (SPEC §3.4): named, dated goals with progress computed live.

``carrier_count`` counts the carriers matching the target's filter as they stand now;
``report_sum`` sums one annual-report metric over the counted (submitted or accepted) reports
of a year, of the carriers matching the filter; ``roster_count`` counts the roster entries
(issue 12) of the carriers matching the filter: of the filter's ``role``, on the roster today
when ``active`` is true, started in ``year`` when one is given (trainee cohorts count their
``size``). A ``carrier_count`` filter with a ``role`` counts the carriers having such an entry
(on the roster today when ``active`` is true).

Progress state: ``achieved`` once current ≥ target (whatever the date); otherwise ``missed``
after the deadline; before it, ``on_track`` when current is at least the linear pace —
target × (days since the period start) / (days from the start to the deadline) — and
``at_risk`` below it. The period starts on ``starts_on``, by default 1 January of the
deadline's year (the bureau sets yearly targets).

A ``report_sum`` target waits for reports that arrive after their year (the report for 2019
is due in 2020): its progress lists the reports still to come (``reports_pending``), and it
is ``on_track`` while any of them is not yet due; ``missed`` needs the deadline and every
due date to have passed. ``filter.type`` may name several types.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

import peewee as pw

from registry import audit, carriers, clock, lifecycle, rosters, writes
from registry.db import write_transaction
from registry.errors import DomainError, with_article
from registry.models import AnnualReport, Carrier, EvaluationPolicy, Member, Target
from registry.vocabulary import REPORT_METRICS

FIELDS = (
    "name",
    "metric",
    "filter",
    "report_metric",
    "year",
    "target_value",
    "deadline",
    "starts_on",
    "note",
)
FILTER_KEYS = (
    "type",
    "level",
    "level_min",
    "status",
    "tag",
    "accredited_from",
    "accredited_to",
    "role",
    "active",
)
#: Filter keys about roster entries (issue 12), not about the carrier itself.
ROSTER_FILTER_KEYS = ("role", "active")
FILTER_DATES = ("accredited_from", "accredited_to")


def filter_of(target: Target) -> dict[str, Any]:
    """The stored filter with its dates as dates."""
    stored = dict(target.filter or {})
    for key in FILTER_DATES:
        if isinstance(stored.get(key), str):
            stored[key] = dt.date.fromisoformat(stored[key])
    return stored


def period_start(deadline: dt.date, starts_on: dt.date | None) -> dt.date:
    """Where the pace is measured from: ``starts_on``, else 1 January of the deadline year."""
    return starts_on or dt.date(deadline.year, 1, 1)


def progress(
    current: float,
    target_value: float,
    deadline: dt.date,
    starts_on: dt.date | None,
    today: dt.date,
    awaiting_until: dt.date | None = None,
) -> dict[str, Any]:
    """``current``, ``percent`` (of the target, one decimal, may exceed 100), ``expected``
    (the linear pace today) and ``state`` (see the module docstring); ``awaiting_until`` is
    the last due date of the reports still to come (report_sum), None when none is."""
    start = period_start(deadline, starts_on)
    if today <= start:
        expected = 0.0
    elif today >= deadline:
        expected = float(target_value)
    else:
        expected = target_value * (today - start).days / (deadline - start).days
    if current >= target_value:
        state = "achieved"
    elif awaiting_until is not None and today <= awaiting_until:
        state = "on_track"  # the figure is not in yet: not at risk before the reports are due
    elif today > deadline:
        state = "missed"
    elif current >= expected:
        state = "on_track"
    else:
        state = "at_risk"
    return {
        "current": current,
        "percent": round(100 * current / target_value, 1),
        "expected": round(expected, 2),
        "state": state,
    }


def current_value(target: Target) -> float:
    """The live figure a target measures (one query)."""
    wanted = filter_of(target)
    today = clock.today()
    if target.metric == "carrier_count":
        query = carriers.filter_carriers(Carrier.select(), wanted)
        if any(wanted.get(key) is not None for key in ROSTER_FILTER_KEYS):
            having = Member.select(Member.carrier).where(rosters.counted(wanted, None, today))
            query = query.where(Carrier.id.in_(having))
        return query.count()
    if target.metric == "roster_count":
        query = (
            Member.select(pw.fn.SUM(pw.fn.COALESCE(Member.size, 1)))
            .join(Carrier)
            .where(rosters.counted(wanted, target.year, today))
        )
        return carriers.filter_carriers(query, wanted).scalar() or 0
    query = (
        AnnualReport.select(AnnualReport.metrics)
        .join(Carrier)
        .where(
            (AnnualReport.year == target.year)
            & AnnualReport.status.in_(sorted(lifecycle.COUNTED_REPORT_STATUSES))
        )
    )
    query = carriers.filter_carriers(query, wanted)
    return sum((metrics or {}).get(target.report_metric, 0) for (metrics,) in query.tuples())


def pending_reports(target: Target, today: dt.date) -> list[dict[str, Any]]:
    """The reports of ``target.year`` still to come: carriers matching the filter, active now
    and accredited by the end of that year, whose policy (or own day) asks for a report and
    that have no counted report for the year; by due date (three queries)."""
    year_end = dt.date(target.year, 12, 31)
    owing = carriers.filter_carriers(
        Carrier.select(
            Carrier.id, Carrier.name, Carrier.type, Carrier.level, Carrier.report_due_override
        ).where(
            Carrier.status.in_(sorted(lifecycle.ACTIVE_STATUSES))
            & (Carrier.accredited_on <= year_end)
        ),
        filter_of(target),
    )
    reported = AnnualReport.select(AnnualReport.carrier).where(
        (AnnualReport.year == target.year)
        & AnnualReport.status.in_(sorted(lifecycle.COUNTED_REPORT_STATUSES))
    )
    policies = {
        (row.type, row.level): row.report_due
        for row in EvaluationPolicy.select(
            EvaluationPolicy.type, EvaluationPolicy.level, EvaluationPolicy.report_due
        )
    }
    pending = []
    for row in owing.where(Carrier.id.not_in(reported)).order_by(Carrier.id):
        report_due = row.report_due_override or policies.get((row.type, row.level))
        if report_due:
            due_on = lifecycle.month_day(target.year + 1, report_due)
            pending.append(
                {
                    "carrier_id": row.id,
                    "name": row.name,
                    "due_on": due_on,
                    "overdue": due_on < today,
                }
            )
    return sorted(pending, key=lambda report: (report["due_on"], report["carrier_id"]))


def counted_reports(target: Target) -> int:
    """How many counted reports of the year a report_sum target sums (one query)."""
    query = (
        AnnualReport.select(AnnualReport.id)
        .join(Carrier)
        .where(
            (AnnualReport.year == target.year)
            & AnnualReport.status.in_(sorted(lifecycle.COUNTED_REPORT_STATUSES))
        )
    )
    return carriers.filter_carriers(query, filter_of(target)).count()


def as_dict(target: Target, today: dt.date | None = None) -> dict[str, Any]:
    """A target as the API shows it, its progress computed now."""
    today = today or clock.today()
    pending = pending_reports(target, today) if target.metric == "report_sum" else None
    shown = progress(
        current_value(target),
        target.target_value,
        target.deadline,
        target.starts_on,
        today,
        max((report["due_on"] for report in pending), default=None) if pending else None,
    )
    if pending is not None:
        shown["reports_pending"] = pending
        shown["reports_counted"] = counted_reports(target)
    return {
        "id": target.id,
        **{name: getattr(target, name) for name in FIELDS},
        "filter": filter_of(target),
        "progress": shown,
        "created_at": target.created_at,
        "updated_at": target.updated_at,
    }


def check(values: dict) -> dict[str, list[str]]:
    """Field errors of a whole target (the rules that tie its fields together)."""
    errors: dict[str, list[str]] = {}
    wanted = values.get("filter") or {}
    if values["metric"] == "carrier_count":
        for name in ("report_metric", "year"):
            if values.get(name) is not None:
                errors[name] = [f"A carrier_count target takes no {name}."]
    elif values["metric"] == "roster_count":
        if values.get("report_metric") is not None:
            errors["report_metric"] = ["A roster_count target takes no report_metric."]
    else:
        roster_keys = [key for key in ROSTER_FILTER_KEYS if wanted.get(key) is not None]
        if roster_keys:
            errors["filter"] = [f"A report_sum target takes no {', '.join(roster_keys)}."]
        for name in ("report_metric", "year"):
            if values.get(name) is None:
                errors[name] = [f"A report_sum target needs {with_article(name)}."]
        metric, named = values.get("report_metric"), wanted.get("type")
        types = [named] if isinstance(named, str) else list(named or [])
        lacking = [kind for kind in types if metric and metric not in REPORT_METRICS[kind]]
        if lacking:
            errors["report_metric"] = [
                f"{with_article(kind, True)} report has no {metric}; "
                f"use {', '.join(REPORT_METRICS[kind])}."
                for kind in lacking
            ]
    start, end = wanted.get("accredited_from"), wanted.get("accredited_to")
    if start and end and start > end:
        errors["filter"] = ["accredited_from must not be after accredited_to."]
    if values.get("starts_on") and values["starts_on"] >= values["deadline"]:
        errors["starts_on"] = ["starts_on must be before the deadline."]
    return errors


def _values(target: Target) -> dict[str, Any]:
    return {
        "id": target.id,
        **{name: getattr(target, name) for name in FIELDS},
        "filter": filter_of(target),
    }


def _save(target: Target, data: dict) -> None:
    values = {**{name: getattr(target, name) for name in FIELDS}, "filter": filter_of(target)}
    values |= data
    errors = check(values)
    if errors:
        raise DomainError(422, "The request body has invalid fields.", errors)
    for name in FIELDS:
        setattr(target, name, values[name])
    target.filter = audit.jsonable(values["filter"] or {})


def create_target(data: dict) -> Target:
    """Create a target (audited)."""
    target = Target(**{name: None for name in FIELDS})
    target.filter = {}
    with write_transaction():
        _save(target, data)
        target.save()
        audit.record_change("create", "target", target.id, None, _values(target))
    return target


def update_target(
    target_id: int, data: dict, expected: Collection[int] | None = writes.ANY_VERSION
) -> Target:
    """Edit a target, if it is at an ``expected`` version (412); the rules are checked on the
    target as it will be (audited)."""
    with writes.guarded(Target, target_id, expected, "target") as edit:
        target = edit.row
        before = _values(target)
        _save(target, data)
        edit.save()
        audit.record_change("update", "target", target.id, before, _values(target))
    return target


def delete_target(target_id: int, expected: Collection[int] | None = writes.ANY_VERSION) -> None:
    """Delete a target, if it is at an ``expected`` version (audited)."""
    with writes.guarded(Target, target_id, expected, "target") as edit:
        before = _values(edit.row)
        edit.row.delete_instance()
        audit.record_change("delete", "target", before["id"], before, None)
