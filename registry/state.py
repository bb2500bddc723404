"""A carrier's stored state: the lifecycle's replay and derived dates, written onto its row.

The lifecycle (``registry.lifecycle``) is framework-free; this module is the glue between it
and the stored carriers: the policy in force, the reports counted, the replay of the
milestones, and the derived date columns it keeps in step (SPEC §3.2). Milestones, reports,
policy edits, the scan and point-in-time answers call it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import replace

from registry import lifecycle
from registry.clock import end_of_day, local_date, today, utcnow
from registry.db import locked
from registry.models import AnnualReport, Carrier, CarrierPeriod, EvaluationPolicy, Milestone

log = logging.getLogger(__name__)


def policy_for(carrier_type: str, level: str) -> lifecycle.Policy:
    """The evaluation policy in force for a type and level (an empty policy when none is set)."""
    row = EvaluationPolicy.get_or_none(
        (EvaluationPolicy.type == carrier_type) & (EvaluationPolicy.level == level)
    )
    return to_policy(row)


def policies() -> dict[tuple[str, str], lifecycle.Policy]:
    """Every evaluation policy by (type, level), in one query: for writes of many carriers
    (a type and level without a policy has :func:`policy_for`'s empty one)."""
    return {(row.type, row.level): to_policy(row) for row in EvaluationPolicy.select()}


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


# --- the stored periods: the replay on every day (issue 10) --------------------------------

#: The state columns of a stored period, as ``lifecycle.CarrierState`` names them.
PERIOD_STATE = {
    "status": "status",
    "level": "level",
    "accredited_on": "accredited_on",
    "certificate_no": "certificate_no",
    "milestone_valid_until": "valid_until",
    "cycle_start": "cycle_start",
    "last_evaluation_on": "last_evaluation_on",
    "rectify_by": "rectify_by",
}


def periods_of(
    initial: lifecycle.CarrierState,
    milestones: list,
    registered: dt.date,
    carrier_id: int | None = None,
) -> list[tuple[dt.date, dt.date | None, lifecycle.CarrierState]]:
    """``(valid_from, valid_to, state)`` of each stretch of a history: the initial state
    from the day of registration (``registered``) to the first milestone's day (none when
    that comes first), then the state after the milestones of each day until the next such
    day (null: still). Before the first ``valid_from`` the history had not begun.
    ``milestones`` are ordered and not voided; raises ReplayError as
    :func:`lifecycle.replay` does."""
    days = sorted({m.occurred_on for m in milestones})
    found = []
    if not days or registered < days[0]:
        found.append((registered, days[0] if days else None, initial))
    current, index = initial, 0
    for position, day in enumerate(days):
        on_day = []
        while index < len(milestones) and milestones[index].occurred_on == day:
            on_day.append(milestones[index])
            index += 1
        current = lifecycle.replay(current, on_day, carrier_id=carrier_id)
        following = days[position + 1] if position + 1 < len(days) else None
        found.append((day, following, current))
    return found


def period_rows(carrier: Carrier, milestones: list) -> list[dict]:
    """The ``carrier_period`` rows of ``carrier`` with ``milestones`` (ordered, active)."""
    return [
        {
            "carrier": carrier.id,
            "valid_from": start,
            "valid_to": end,
            **{column: getattr(state, name) for column, name in PERIOD_STATE.items()},
        }
        for start, end, state in periods_of(
            initial_state(carrier), milestones, local_date(carrier.created_at), carrier.id
        )
    ]


def store_periods(carrier: Carrier, milestones: list | None = None) -> None:
    """Rewrite the stored periods of ``carrier`` (saved, with its initial state) from its
    history: ``milestones`` when given (ordered, active, possibly one not saved yet), else
    those stored. Call inside the write's transaction, with every write that changes the
    history or the initial state: the periods then always equal a fresh replay."""
    if milestones is None:
        milestones = active_milestones(carrier.id)
    rows = period_rows(carrier, milestones)
    CarrierPeriod.delete().where(CarrierPeriod.carrier == carrier.id).execute()
    CarrierPeriod.insert_many(rows).execute()


def store_all_periods(batch: int = 2000) -> int:
    """Rewrite the stored periods of every carrier (migration step 12, ``registry rebuild``):
    a carrier whose history today's rules refuse keeps one period, its stored state, with a
    warning. Return how many carriers were written. Bounded memory: ``batch`` carriers at a
    time, their milestones in one query."""
    written, last = 0, 0
    columns = [getattr(Milestone, name) for name in ("carrier", *REPLAY_FIELDS)]
    while True:
        rows = list(
            Carrier.select(
                Carrier.id,
                Carrier.created_at,
                Carrier.initial_status,
                Carrier.initial_level,
                *[getattr(Carrier, c) for c in PERIOD_STATE],
            )
            .where(Carrier.id > last)
            .order_by(Carrier.id)
            .limit(batch)
        )
        if not rows:
            return written
        last = rows[-1].id
        history: dict[int, list] = defaultdict(list)
        for milestone in (
            Milestone.select(*columns)
            .where(
                (Milestone.carrier >= rows[0].id)
                & (Milestone.carrier <= last)
                & (Milestone.voided == False)  # noqa: E712
            )
            .order_by(Milestone.carrier, Milestone.occurred_on, Milestone.id)
            .namedtuples()
        ):
            history[milestone.carrier].append(milestone)
        inserts = []
        for carrier in rows:
            try:
                inserts += period_rows(carrier, history[carrier.id])
            except lifecycle.LifecycleError as error:
                log.warning("Carrier %s: one period, its stored state: %s", carrier.id, error)
                stored = state_of(carrier)
                inserts.append(
                    {
                        "carrier": carrier.id,
                        "valid_from": local_date(carrier.created_at),
                        "valid_to": None,
                        **{c: getattr(stored, n) for c, n in PERIOD_STATE.items()},
                    }
                )
        ids = [carrier.id for carrier in rows]
        CarrierPeriod.delete().where(CarrierPeriod.carrier.in_(ids)).execute()
        for start in range(0, len(inserts), 500):
            CarrierPeriod.insert_many(inserts[start : start + 500]).execute()
        written += len(rows)


#: The milestone fields the replay reads (``registry.milestones.MILESTONE_FIELDS`` adds the
#: ones it only shows).
REPLAY_FIELDS = (
    "kind",
    "occurred_on",
    "level",
    "result",
    "certificate_no",
    "valid_until",
    "rectify_by",
)


def state_on(period) -> lifecycle.CarrierState:
    """The state a stored period (a row with ``PERIOD_STATE``'s columns) holds."""
    return lifecycle.CarrierState(
        **{name: getattr(period, column) for column, name in PERIOD_STATE.items()}
    )
