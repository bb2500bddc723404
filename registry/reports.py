"""Annual reports (SPEC §3.2, §5.1): one per carrier and year, submitted by the carrier's
operator (or the bureau), accepted or returned by the bureau with a comment.

A submitted or accepted report counts for the carrier's ``next_report_due_on``; a returned one
does not (the report is still due) until it is resubmitted. Every change refreshes the
carrier's derived dates in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

import peewee as pw

from registry import alerts, audit, clock, state, writes
from registry.db import locked, utcnow, write_transaction
from registry.errors import DomainError
from registry.models import AnnualReport, Carrier, Milestone
from registry.vocabulary import AMOUNT_METRICS, REPORT_METRICS


def as_dict(report: AnnualReport) -> dict[str, Any]:
    """An annual report as the API shows it."""
    return {
        "id": report.id,
        "carrier_id": report.carrier_id,
        "year": report.year,
        "metrics": report.metrics or {},
        "status": report.status,
        "submitted_at": report.submitted_at,
        "review_comment": report.review_comment,
        "reviewed_at": report.reviewed_at,
        "created_at": report.created_at,
        "updated_at": report.updated_at,
    }


def of_carrier(carrier_id: int, status: str | None = None) -> pw.ModelSelect:
    """A carrier's annual reports, newest year first (of ``status`` when given)."""
    query = AnnualReport.select().where(AnnualReport.carrier == carrier_id)
    if status is not None:
        query = query.where(AnnualReport.status == status)
    return query.order_by(AnnualReport.year.desc())


def first_accredited_on(carrier: Carrier) -> dt.date | None:
    """The day the carrier was first accredited (its earliest accreditation in force)."""
    first = (
        Milestone.select(Milestone.occurred_on)
        .where(
            (Milestone.carrier == carrier.id)
            & (Milestone.kind == "accredited")
            & (Milestone.voided == False)  # noqa: E712
        )
        .order_by(Milestone.occurred_on)
        .first()
    )
    return first.occurred_on if first else carrier.accredited_on


def check_metrics(carrier_type: str, metrics: dict) -> list[str]:
    """Messages about ``metrics`` for a carrier of ``carrier_type`` (known keys, not empty)."""
    known = REPORT_METRICS.get(carrier_type, {})
    unknown = sorted(set(metrics) - set(known))
    if unknown:
        return [
            f"Not a metric of a {carrier_type} report: {', '.join(unknown)}. "
            f"Use {', '.join(known)}."
        ]
    if not metrics:
        return ["A report needs at least one metric."]
    fractional = sorted(
        key
        for key, value in metrics.items()
        if key not in AMOUNT_METRICS and value is not None and value != int(value)
    )
    if fractional:
        return [
            f"{key} ({known[key]}) counts people, enterprises or items: a whole number, "
            f"not {metrics[key]}."
            for key in fractional
        ]
    return []


def check_year(
    carrier: Carrier, year: int, today: dt.date, early_submission: bool = False
) -> list[str]:
    """Messages about reporting ``year``: not before the first accreditation, not future, and
    not the current year before it ends (an annual report covers the whole year) unless the
    bureau allows an ``early_submission``."""
    first = first_accredited_on(carrier)
    if first is None:
        return [f"Carrier {carrier.id} has never been accredited; it has no report to submit."]
    if year < first.year:
        return [f"Carrier {carrier.id} was accredited on {first}; {year} is before that."]
    if year > today.year:
        return [f"{year} is in the future (this is {today.year})."]
    if year == today.year and not early_submission:
        return [
            f"The report for {year} covers the whole year: submit it from "
            f"{year + 1}-01-01 (the bureau admin may allow it earlier with "
            '"early_submission": true).'
        ]
    return []


def _refuse_if(errors: dict) -> None:
    errors = {field: messages for field, messages in errors.items() if messages}
    if errors:
        raise DomainError(422, "The request body has invalid fields.", errors)


def submit_report(
    carrier: Carrier,
    data: dict,
    *,
    actor: str | None = None,
    submitted_at: dt.datetime | None = None,
) -> AnnualReport:
    """Submit ``carrier``'s report for ``data["year"]`` (409 when that year has one already).

    ``submitted_at`` (naive UTC) lets imports and the demo date a historical submission;
    ``data["early_submission"]`` (checked by the caller: bureau admin only) lets a report of
    the current year in before the year ends, and the audit record says so.
    """
    year, metrics = data["year"], data["metrics"]
    early = bool(data.get("early_submission"))
    _refuse_if(
        {
            "year": check_year(carrier, year, clock.today(), early),
            "metrics": check_metrics(carrier.type, metrics),
        }
    )
    try:
        with write_transaction():
            locked(Carrier.select().where(Carrier.id == carrier.id)).get()
            existing = AnnualReport.get_or_none(
                (AnnualReport.carrier == carrier.id) & (AnnualReport.year == year)
            )
            if existing is not None:
                raise _duplicate(carrier.id, existing)
            report = AnnualReport.create(
                carrier=carrier.id,
                year=year,
                metrics=metrics,
                status="submitted",
                submitted_at=submitted_at or utcnow(),
            )
            state.save_refreshed_dates(carrier.id)
            alerts.reconcile_carriers([carrier.id])
            after = as_dict(report)
            recorded = {**after, "early_submission": True} if early else after
            audit.record_change("create", "annual_report", report.id, None, recorded, actor=actor)
            audit.emit(
                "report.submitted",
                {"report": after, "resubmitted": False},
                carrier_id=carrier.id,
            )
    except pw.IntegrityError as error:  # a concurrent submission won the unique index
        raise DomainError(
            409, f"Carrier {carrier.id} already has an annual report for {year}."
        ) from error
    return report


def _duplicate(carrier_id: int, existing: AnnualReport) -> DomainError:
    message = (
        f"Carrier {carrier_id} already has an annual report for {existing.year} "
        f"(report {existing.id}, {existing.status})."
    )
    if existing.status == "returned":
        message += f" Resubmit it with PATCH /api/v1/annual-reports/{existing.id}."
    return DomainError(409, message)


def _lock(report: AnnualReport) -> AnnualReport:
    return locked(AnnualReport.select().where(AnnualReport.id == report.id)).get()


def resubmit_report(
    report: AnnualReport,
    metrics: dict,
    expected: Collection[int] | None = writes.ANY_VERSION,
    *,
    actor: str | None = None,
):
    """Replace the metrics of a report not yet accepted, if it is at an ``expected`` version
    (412); a returned report becomes submitted again (new ``submitted_at``, review cleared).
    An accepted report is final (409)."""
    carrier = Carrier.get_by_id(report.carrier_id)
    _refuse_if({"metrics": check_metrics(carrier.type, metrics)})
    with writes.guarded(AnnualReport, report.id, expected, "annual report") as edit:
        report = edit.row
        if report.status == "accepted":
            raise DomainError(409, f"Annual report {report.id} was accepted; it is final.")
        before = as_dict(report)
        resubmitted = report.status == "returned"
        report.metrics = metrics
        if resubmitted:
            report.status = "submitted"
            report.submitted_at = utcnow()
            report.review_comment = None
            report.reviewed_at = None
            report.reviewed_by = None
        edit.save()
        state.save_refreshed_dates(report.carrier_id)
        alerts.reconcile_carriers([report.carrier_id])
        after = as_dict(report)
        audit.record_change("update", "annual_report", report.id, before, after, actor=actor)
        audit.emit(
            "report.submitted",
            {"report": after, "resubmitted": resubmitted},
            carrier_id=report.carrier_id,
        )
    return report


def review_report(
    report: AnnualReport, status: str, comment: str | None, *, actor: str | None = None
) -> AnnualReport:
    """Accept or return a submitted report with a comment (a second review is a 409)."""
    actor = actor or audit.current_actor()
    with write_transaction():
        report = _lock(report)
        if report.status != "submitted":
            raise DomainError(
                409,
                f"Annual report {report.id} is {report.status}; only a submitted report can "
                "be reviewed.",
            )
        before = as_dict(report)
        report.status = status
        report.review_comment = comment
        report.reviewed_at = utcnow()
        report.reviewed_by = actor
        report.version += 1
        report.updated_at = report.reviewed_at
        report.save()
        state.save_refreshed_dates(report.carrier_id)
        alerts.reconcile_carriers([report.carrier_id])
        audit.record_change("review", "annual_report", report.id, before, as_dict(report), actor)
    return report
