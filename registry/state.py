"""A carrier's stored state: the lifecycle's replay and derived dates, written onto its row.

The lifecycle (``registry.lifecycle``) is framework-free; this module is the glue between it
and the stored carriers: the policy in force, the reports counted, the replay of the
milestones, and the derived date columns it keeps in step (SPEC §3.2). Milestones, reports,
policy edits, the scan and point-in-time answers call it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace

from registry import lifecycle
from registry.clock import end_of_day, today, utcnow
from registry.db import locked
from registry.models import AnnualReport, Carrier, EvaluationPolicy, Milestone


def policy_for(carrier_type: str, level: str) -> lifecycle.Policy:
    """The evaluation policy in force for a type and level (an empty policy when none is set)."""
    row = EvaluationPolicy.get_or_none(
        (EvaluationPolicy.type == carrier_type) & (EvaluationPolicy.level == level)
    )
    return to_policy(row)


def to_policy(row: EvaluationPolicy | None) -> lifecycle.Policy:
    """The date rules' view of a stored policy (an empty policy for None)."""
    if row is None:
        return lifecycle.Policy()
    return lifecycle.Policy(
        annual_assessment=row.annual_assessment,
        term_years=row.term_years,
        report_due=row.report_due,
        warn_days=list(row.warn_days or []),
    )


def reported_years(carriers, until: dt.date | None = None) -> dict[int, set[int]]:
    """carrier id -> the years it has a counted report for (one query).

    ``carriers`` is a list of ids or a subquery of ids; ``until`` keeps the reports submitted
    by the end of that day (point-in-time answers). Returned reports do not count: the report
    is still due (SPEC §3.2).
    """
    query = AnnualReport.select(AnnualReport.carrier, AnnualReport.year).where(
        AnnualReport.carrier.in_(carriers)
        & AnnualReport.status.in_(sorted(lifecycle.COUNTED_REPORT_STATUSES))
    )
    if until is not None:
        query = query.where(AnnualReport.submitted_at < end_of_day(until))
    years: dict[int, set[int]] = defaultdict(set)
    for carrier_id, year in query.tuples():
        years[carrier_id].add(year)
    return years


def dates_of(
    carrier: Carrier,
    state: lifecycle.CarrierState,
    policy: lifecycle.Policy,
    reported: set[int],
    day: dt.date,
) -> lifecycle.DerivedDates:
    """The derived dates of ``carrier`` in ``state`` (its own overrides apply, the report
    due day included: it wins over the policy's ``report_due``)."""
    if getattr(carrier, "report_due_override", None):
        policy = replace(policy, report_due=carrier.report_due_override)
    return lifecycle.derive(
        status=state.status,
        accredited_on=state.accredited_on,
        milestone_valid_until=state.valid_until,
        valid_until_override=carrier.valid_until_override,
        cycle_start=state.cycle_start,
        last_evaluation_on=state.last_evaluation_on,
        next_evaluation_override=carrier.next_evaluation_override,
        reported_years=reported,
        policy=policy,
        today=day,
    )


#: The stored derived dates (SPEC §3.2), written only from ``lifecycle.derive``.
DATE_COLUMNS = ("valid_until", "next_evaluation_on", "next_report_due_on", "next_report_year")


def _store_dates(carrier: Carrier, dates: lifecycle.DerivedDates) -> bool:
    """Write ``dates`` onto the carrier's columns (not saved); whether anything changed."""
    changed = False
    for name in DATE_COLUMNS:
        value = getattr(dates, name)
        if getattr(carrier, name) != value:
            setattr(carrier, name, value)
            changed = True
    return changed


def refresh_dates(carrier: Carrier, policy: lifecycle.Policy | None = None) -> bool:
    """Recompute the stored derived dates of ``carrier`` (not saved); whether they changed."""
    policy = policy or policy_for(carrier.type, carrier.level)
    reported = reported_years([carrier.id]).get(carrier.id, set()) if carrier.id else set()
    return _store_dates(carrier, dates_of(carrier, state_of(carrier), policy, reported, today()))


def save_refreshed_dates(carrier_id: int) -> Carrier:
    """Recompute and save one carrier's derived dates (call inside the write's transaction),
    e.g. after an annual report changed; a change bumps the version, hence the ETag."""
    carrier = locked(Carrier.select().where(Carrier.id == carrier_id)).get()
    if refresh_dates(carrier):
        carrier.version += 1
        carrier.updated_at = utcnow()
        carrier.save()
    return carrier


def recompute_dates(carrier_type: str, level: str) -> list[int]:
    """Recompute the stored dates of every carrier of a type × level, e.g. after its policy
    was edited; return the ids of those whose dates changed.

    Call inside the edit's transaction: one query for the carriers (locked on PostgreSQL), one
    for their reports, and batched ``UPDATE … CASE`` statements for the changed rows.
    """
    policy = policy_for(carrier_type, level)
    matching = (Carrier.type == carrier_type) & (Carrier.level == level)
    rows = list(locked(Carrier.select().where(matching).order_by(Carrier.id)))
    reported = reported_years(Carrier.select(Carrier.id).where(matching))
    now, day, changed = utcnow(), today(), []
    for carrier in rows:
        dates = dates_of(carrier, state_of(carrier), policy, reported.get(carrier.id, set()), day)
        if _store_dates(carrier, dates):
            carrier.version += 1
            carrier.updated_at = now
            changed.append(carrier)
    if changed:
        fields = [getattr(Carrier, name) for name in (*DATE_COLUMNS, "version", "updated_at")]
        Carrier.bulk_update(changed, fields=fields, batch_size=500)
    return [carrier.id for carrier in changed]


def initial_state(carrier: Carrier) -> lifecycle.CarrierState:
    """The state the lifecycle replays from: the carrier before any milestone."""
    return lifecycle.CarrierState(status=carrier.initial_status, level=carrier.initial_level)


def state_of(carrier: Carrier) -> lifecycle.CarrierState:
    """The lifecycle columns of ``carrier`` as a state."""
    return lifecycle.CarrierState(
        status=carrier.status,
        level=carrier.level,
        accredited_on=carrier.accredited_on,
        certificate_no=carrier.certificate_no,
        valid_until=carrier.milestone_valid_until,
        cycle_start=carrier.cycle_start,
        last_evaluation_on=carrier.last_evaluation_on,
        rectify_by=carrier.rectify_by,
    )


def set_state(carrier: Carrier, state: lifecycle.CarrierState) -> None:
    """Write a lifecycle state onto ``carrier``'s columns (not saved)."""
    carrier.status = state.status
    carrier.level = state.level
    carrier.accredited_on = state.accredited_on
    carrier.certificate_no = state.certificate_no
    carrier.milestone_valid_until = state.valid_until
    carrier.cycle_start = state.cycle_start
    carrier.last_evaluation_on = state.last_evaluation_on
    carrier.rectify_by = state.rectify_by


def active_milestones(carrier_id: int) -> list[Milestone]:
    """The non-voided milestones of a carrier in the order they happened."""
    return list(
        Milestone.select()
        .where((Milestone.carrier == carrier_id) & (Milestone.voided == False))  # noqa: E712
        .order_by(Milestone.occurred_on, Milestone.id)
    )


def replay_state(carrier: Carrier, milestones: list) -> lifecycle.CarrierState:
    """The state ``carrier`` has after ``milestones`` (raises ReplayError when refused)."""
    return lifecycle.replay(initial_state(carrier), milestones, carrier_id=carrier.id)
