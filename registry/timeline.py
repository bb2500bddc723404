"""The registry on a past date: each carrier's state replayed from its milestones (SPEC §2.4).

Point-in-time answers (``?as_of=YYYY-MM-DD``) read the state the lifecycle's own replay gives
over the non-voided milestones dated on or before that day. The replay is not run per
request: its result for every day is stored as each carrier's periods (``carrier_period``,
rewritten by ``registry.state.store_periods`` in the transaction of every write that changes
a history), so ``as_of`` on the date of the last milestone equals the current state and a
point-in-time list is a join. The history is the one known now: a milestone recorded later
but dated before the day counts, a voided one never does.

Derived dates on that day use today's policies and the carrier's current overrides (neither
keeps a history) and count the annual reports submitted by the end of that day. A carrier
whose history had not begun (no milestone by then and registered after that day) is left out.

A list is filtered, sorted, counted and paged in SQL on the joined period (registry.directory
does that); only the derived dates are computed in Python, for the page's carriers, or for
every candidate when a filter or sort reads one (``evaluation_due_before``,
``report_due_before``, the date sort keys: bureau-only, see :func:`needs_dates`). Who may see
which carrier on that day, the sort and the page are registry.directory's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import peewee as pw

from registry import lifecycle, state
from registry.models import Carrier, CarrierPeriod, EvaluationPolicy
from registry.vocabulary import levels_at_least

#: Carrier columns a point-in-time list needs besides the period (the rest of a carrier is
#: loaded for the page only).
ROW_COLUMNS = (
    Carrier.id,
    Carrier.name,
    Carrier.type,
    Carrier.town,
    Carrier.established_on,
    Carrier.created_at,
    Carrier.updated_at,
    Carrier.valid_until_override,
    Carrier.next_evaluation_override,
    Carrier.report_due_override,
)
#: Response fields that take their value on the day asked for.
STATE_FIELDS = ("status", "level", "accredited_on", "certificate_no")
DATE_FIELDS = ("valid_until", "next_evaluation_on", "next_report_due_on")


@dataclass(frozen=True)
class PastCarrier:
    """One carrier on a past day: its stored row (descriptive columns), state and dates."""

    row: Any
    state: lifecycle.CarrierState
    dates: lifecycle.DerivedDates

    @property
    def id(self) -> int:
        return self.row.id


#: The stored period columns a point-in-time answer reads (the state on the day).
PERIOD_COLUMNS = tuple(getattr(CarrierPeriod, column) for column in state.PERIOD_STATE)
#: Filters and sort keys that read a derived date on the day: computed in Python (the
#: dates depend on today's policies and the reports submitted by then, not stored).
DATE_FILTERS = ("evaluation_due_before", "report_due_before")


def in_force(day: dt.date) -> pw.Expression:
    """The join condition of each carrier's stored period on ``day``: the period that
    covers it (none before the carrier's registration and first milestone)."""
    period = CarrierPeriod
    return (
        (period.carrier == Carrier.id)
        & (period.valid_from <= day)
        & ((period.valid_to > day) | period.valid_to.is_null())
    )


def on_day(query: pw.ModelSelect, day: dt.date, filters: dict) -> pw.ModelSelect:
    """``query`` joined with each carrier's stored period on ``day`` (a carrier whose
    history had not begun drops out), narrowed in SQL by the filters on its state then
    (level, level_min, status, accredited_from, accredited_to); the date filters are
    :func:`matches`'s."""
    query = query.join_from(Carrier, CarrierPeriod, on=in_force(day))
    levels = _levels(filters)
    if levels is not None:
        query = query.where(CarrierPeriod.level.in_(levels))
    if filters.get("status"):
        query = query.where(CarrierPeriod.status == filters["status"])
    if filters.get("accredited_from"):
        query = query.where(CarrierPeriod.accredited_on >= filters["accredited_from"])
    if filters.get("accredited_to"):
        query = query.where(CarrierPeriod.accredited_on <= filters["accredited_to"])
    return query


def needs_dates(filters: dict, sort: str | None) -> bool:
    """Whether a point-in-time list filters or sorts by a derived date (then its carriers
    are narrowed in SQL and finished in Python, see :func:`carriers_on`)."""
    keys = {key.lstrip("-") for key in (sort or "").split(",") if key}
    return any(filters.get(name) for name in DATE_FILTERS) or bool(keys & set(DATE_FIELDS))


def _levels(filters: dict) -> list[str] | None:
    levels = None
    if filters.get("level"):
        levels = [filters["level"]]
    if filters.get("level_min"):
        at_least = levels_at_least(filters["level_min"])
        levels = [level for level in (levels or at_least) if level in at_least]
    return levels


def matches(past: PastCarrier, filters: dict) -> bool:
    """Whether a carrier's derived dates on the day meet the date filters (the state
    filters were applied in SQL by :func:`on_day`)."""
    dates = past.dates
    for key, value in (
        ("evaluation_due_before", dates.next_evaluation_on),
        ("report_due_before", dates.next_report_due_on),
    ):
        if filters.get(key) and not (value and value <= filters[key]):
            return False
    return True


def with_dates(rows: list, day: dt.date, ids=None) -> list[PastCarrier]:
    """Rows read with ``ROW_COLUMNS`` and ``PERIOD_COLUMNS`` as carriers on ``day``, their
    derived dates computed (today's policies, the reports submitted by then; two queries).
    ``ids``: the rows' ids as a subquery, for many rows."""
    if not rows:
        return []
    reported = state.reported_years(ids if ids is not None else [row.id for row in rows], day)
    policies = {(row.type, row.level): state.to_policy(row) for row in EvaluationPolicy.select()}
    found = []
    for row in rows:
        on_the_day = state.state_on(row)
        policy = policies.get((row.type, on_the_day.level)) or lifecycle.Policy()
        dates = state.dates_of(row, on_the_day, policy, reported.get(row.id, set()), day)
        found.append(PastCarrier(row, on_the_day, dates))
    return found


def rows_on(query: pw.ModelSelect) -> pw.ModelSelect:
    """An :func:`on_day` query reading what a carrier on the day needs."""
    return query.select(*ROW_COLUMNS, *PERIOD_COLUMNS)


def carriers_on(query: pw.ModelSelect, day: dt.date, filters: dict) -> list[PastCarrier]:
    """The carriers of ``query`` as they were on ``day`` that meet the lifecycle ``filters``,
    by id (registry.directory sorts them as the list does): three queries."""
    joined = on_day(query, day, filters)
    rows = list(rows_on(joined).order_by(Carrier.id).namedtuples())
    pasts = with_dates(rows, day, joined.select(Carrier.id))
    return [past for past in pasts if matches(past, filters)]


def carrier_on(carrier_id: int, day: dt.date) -> PastCarrier | None:
    """One carrier on ``day``, or None when its history had not begun."""
    found = carriers_on(Carrier.select().where(Carrier.id == carrier_id), day, {})
    return found[0] if found else None


def value_of(past: PastCarrier, key: str):
    """A field of a carrier on the day: lifecycle fields from the replay, others stored."""
    if key in STATE_FIELDS:
        return getattr(past.state, key)
    if key in DATE_FIELDS:
        return getattr(past.dates, key)
    return getattr(past.row, key)


def overlay(item: dict, past: PastCarrier, day: dt.date) -> dict:
    """A carrier as the API shows it, with the lifecycle fields of ``day`` (only those the
    caller may see) and ``as_of``."""
    values = {name: getattr(past.state, name) for name in STATE_FIELDS}
    values |= {name: getattr(past.dates, name) for name in DATE_FIELDS}
    return {
        **item,
        **{name: value for name, value in values.items() if name in item},
        "as_of": day,
    }
