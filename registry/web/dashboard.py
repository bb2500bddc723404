"""The bureau's dashboard (``/dashboard``, issue 13 #2): every figure from the function the API
answers it with, so the page and the API never disagree.

* counts by type × level — :func:`registry.directory.stats` (``GET /stats/carriers``);
* targets and their progress — :func:`registry.targets.as_dict` (``GET /targets``);
* deadlines of the next 90 days — :func:`registry.deadlines.deadlines` over
  :func:`registry.directory.readable` (``GET /deadlines?within=90``);
* unresolved alerts by kind — :func:`registry.access.alert_scope` (``GET /alerts``);
* the last successful scan — :func:`jobs.runs.last_current_success` (``GET /jobs``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

import peewee as pw
from flask import current_app, render_template, request

from jobs import runs
from registry import access, alerts, clock, deadlines, directory, targets, vocabulary
from registry.models import Alert, Target
from registry.web import charts
from registry.web.pages import bp, signed_in
from schemas.carriers import StatsArgsSchema

#: How far ahead the dashboard lists deadlines.
DEADLINE_DAYS = 90
#: The statuses of an alert still to be dealt with (the scan resolves the others).
UNRESOLVED = ("open", "acknowledged")


@dataclass(frozen=True)
class Counts:
    """Carriers by type × level: the table's rows and the chart's bars."""

    levels: list[str]
    rows: list[tuple[str, list[int], int]]
    level_totals: list[int]
    total: int


def carrier_counts(status: str | None) -> Counts:
    """The carriers of ``status`` (every status when None) by type and level, through the
    stats of ``GET /stats/carriers?group_by=type,level``."""
    query = {"group_by": "type,level"}
    if status:
        query["status"] = status
    stats = directory.stats(StatsArgsSchema().load(query))
    found = {(group["type"], group["level"]): group["count"] for group in stats["groups"]}
    levels = list(vocabulary.LEVELS)
    rows = []
    for code in vocabulary.CARRIER_TYPES:
        counts = [found.get((code, level), 0) for level in levels]
        rows.append((code, counts, sum(counts)))
    level_totals = [sum(row[1][index] for row in rows) for index in range(len(levels))]
    return Counts(levels, rows, level_totals, stats["total"])


def target_progress(today: dt.date) -> list[dict[str, Any]]:
    """Every target with its live progress, soonest deadline first (as ``GET /targets``)."""
    query = Target.select().order_by(Target.deadline, Target.id)
    return [targets.as_dict(target, today) for target in query]


def upcoming_deadlines(today: dt.date) -> list[deadlines.Deadline]:
    """The deadlines of the next :data:`DEADLINE_DAYS` days of the carriers the caller reads."""
    return deadlines.deadlines(directory.readable({}), today=today, within=DEADLINE_DAYS)


def unresolved_alerts() -> list[tuple[str, int, int]]:
    """``(kind, open, acknowledged)`` of every alert kind with an unresolved alert the caller
    may read, in the vocabulary's order."""
    scope = access.alert_scope(alerts.with_carrier(), access.require_reader())
    grouped = (
        scope.select(Alert.kind, Alert.status, pw.fn.COUNT(Alert.id).alias("count"))
        .where(Alert.status.in_(UNRESOLVED))
        .group_by(Alert.kind, Alert.status)
        .tuples()
    )
    counts = Counter({(kind, status): count for kind, status, count in grouped})
    kinds = list(vocabulary.ALERT_KINDS) + sorted(
        {kind for kind, _ in counts} - set(vocabulary.ALERT_KINDS)
    )
    return [
        (kind, counts[(kind, "open")], counts[(kind, "acknowledged")])
        for kind in kinds
        if counts[(kind, "open")] or counts[(kind, "acknowledged")]
    ]


def last_scan() -> dt.datetime | None:
    """When the last successful scan for its own day finished (naive UTC), as ``GET /jobs``
    and ``/readyz`` tell it."""
    run = runs.last_current_success("scan")
    return (run.finished_at or run.started_at) if run else None


def count_chart(counts: Counts, level_labels: dict[str, str]) -> charts.Markup:
    """The type × level counts as a stacked bar chart (types with no carrier left out)."""
    bars = [
        charts.Bar(vocabulary.CARRIER_TYPES[code], tuple(values))
        for code, values, total in counts.rows
        if total
    ]
    return charts.stacked_bars(
        bars,
        [level_labels[level] for level in counts.levels],
        title="各类载体数量（按级别）",
        chart_id="carrier-counts",
    )


@bp.route("/dashboard")
@signed_in(*sorted(access.BUREAU_ROLES))
def dashboard():
    """The bureau's landing page: counts, targets, deadlines, alerts and the last scan."""
    status = request.args.get("status") or "accredited"
    if status == "all":
        status = None
    elif status not in vocabulary.CARRIER_STATUSES:
        status = "accredited"
    today = clock.today()
    counts = carrier_counts(status)
    level_labels = vocabulary.level_labels(current_app.config)
    return render_template(
        "dashboard.html",
        today=today,
        status=status or "all",
        counts=counts,
        chart=count_chart(counts, level_labels),
        targets=target_progress(today),
        deadlines=upcoming_deadlines(today),
        deadline_days=DEADLINE_DAYS,
        alerts=unresolved_alerts(),
        last_scan=last_scan(),
    )
