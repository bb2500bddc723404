"""The registry on a past date: each carrier's state replayed from its milestones (SPEC §2.4).

Point-in-time answers (``?as_of=YYYY-MM-DD``) run the lifecycle's own replay over the
non-voided milestones dated on or before that day, exactly as the stored state is built, so
``as_of`` on the date of the last milestone equals the current state. The history is the one
known now: a milestone recorded later but dated before the day counts, a voided one never does.

Derived dates on that day use today's policies and the carrier's current overrides (neither
keeps a history) and count the annual reports submitted by the end of that day. A carrier
whose history had not begun (no milestone by then and registered after that day) is left out.

A list costs a bounded number of queries whatever its size: candidates narrowed in SQL by
conditions every match must meet, their milestones in one query, their reports in one, the
policies in one; the replay and the exact filters are done in Python. Who may see which
carrier on that day, the sort and the page are registry.directory's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import peewee as pw

from registry import clock, lifecycle, state
from registry.models import Carrier, EvaluationPolicy, Milestone
from registry.vocabulary import levels_at_least

#: Carrier columns a point-in-time list needs besides the milestones (the rest of a carrier
#: is loaded for the page only).
ROW_COLUMNS = (
    Carrier.id,
    Carrier.name,
    Carrier.type,
    Carrier.town,
    Carrier.established_on,
    Carrier.created_at,
    Carrier.updated_at,
    Carrier.initial_status,
    Carrier.initial_level,
    Carrier.valid_until_override,
    Carrier.next_evaluation_override,
    Carrier.report_due_override,
)
MILESTONE_COLUMNS = (
    Milestone.carrier,
    Milestone.kind,
    Milestone.occurred_on,
    Milestone.level,
    Milestone.result,
    Milestone.certificate_no,
    Milestone.valid_until,
    Milestone.rectify_by,
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


def _milestones_by(day: dt.date) -> pw.ModelSelect:
    return Milestone.select(Milestone.carrier).where(
        (Milestone.voided == False) & (Milestone.occurred_on <= day)  # noqa: E712
    )


def narrow(query: pw.ModelSelect, day: dt.date, filters: dict) -> pw.ModelSelect:
    """``query`` restricted in SQL to carriers that can match ``filters`` on ``day``.

    Each condition is necessary, not sufficient (the replay decides): the history had begun;
    the level asked for is the initial level or one a level milestone set by then; the status
    asked for is the initial status or one a milestone of that time can lead to; an
    accreditation date in the period needs an accreditation milestone in it.
    """
    by_day = _milestones_by(day)
    query = query.where((Carrier.created_at < clock.end_of_day(day)) | Carrier.id.in_(by_day))
    levels = _levels(filters)
    if levels is not None:
        query = query.where(
            Carrier.initial_level.in_(levels)
            | Carrier.id.in_(by_day.where(Milestone.level.in_(levels)))
        )
    if filters.get("status"):
        query = query.where(may_have_status(day, [filters["status"]]))
    if filters.get("accredited_from") or filters.get("accredited_to"):
        accredited = by_day.where(Milestone.kind == "accredited")
        if filters.get("accredited_from"):
            accredited = accredited.where(Milestone.occurred_on >= filters["accredited_from"])
        if filters.get("accredited_to"):
            accredited = accredited.where(Milestone.occurred_on <= filters["accredited_to"])
        query = query.where(Carrier.id.in_(accredited))
    return query


def may_have_status(day: dt.date, statuses) -> pw.Expression:
    """A condition every carrier in one of ``statuses`` on ``day`` meets (necessary, not
    sufficient): its initial status is one of them, or a milestone by then can lead to one."""
    statuses = set(statuses)
    kinds = [kind for kind, entered in lifecycle.ENTERS.items() if entered & statuses]
    return Carrier.initial_status.in_(sorted(statuses)) | Carrier.id.in_(
        _milestones_by(day).where(Milestone.kind.in_(kinds))
    )


def _levels(filters: dict) -> list[str] | None:
    levels = None
    if filters.get("level"):
        levels = [filters["level"]]
    if filters.get("level_min"):
        at_least = levels_at_least(filters["level_min"])
        levels = [level for level in (levels or at_least) if level in at_least]
    return levels


def matches(past: PastCarrier, filters: dict) -> bool:
    """Whether a carrier's state and dates on the day meet the lifecycle filters."""
    state, dates = past.state, past.dates
    levels = _levels(filters)
    if levels is not None and state.level not in levels:
        return False
    if filters.get("status") and state.status != filters["status"]:
        return False
    accredited_on = state.accredited_on
    if filters.get("accredited_from") and not (
        accredited_on and accredited_on >= filters["accredited_from"]
    ):
        return False
    if filters.get("accredited_to") and not (
        accredited_on and accredited_on <= filters["accredited_to"]
    ):
        return False
    for key, value in (
        ("evaluation_due_before", dates.next_evaluation_on),
        ("report_due_before", dates.next_report_due_on),
    ):
        if filters.get(key) and not (value and value <= filters[key]):
            return False
    return True


def carriers_on(query: pw.ModelSelect, day: dt.date, filters: dict) -> list[PastCarrier]:
    """The carriers of ``query`` as they were on ``day`` that meet the lifecycle ``filters``,
    by id (registry.directory sorts them as the list does)."""
    candidates = narrow(query, day, filters)
    rows = list(candidates.select(*ROW_COLUMNS).order_by(Carrier.id).namedtuples())
    if not rows:
        return []
    ids = candidates.select(Carrier.id)
    history: dict[int, list] = defaultdict(list)
    for milestone in (
        Milestone.select(*MILESTONE_COLUMNS)
        .where(
            Milestone.carrier.in_(ids)
            & (Milestone.voided == False)  # noqa: E712
            & (Milestone.occurred_on <= day)
        )
        .order_by(Milestone.carrier, Milestone.occurred_on, Milestone.id)
        .namedtuples()
    ):
        history[milestone.carrier].append(milestone)
    reported = state.reported_years(ids, until=day)
    policies = {(row.type, row.level): state.to_policy(row) for row in EvaluationPolicy.select()}
    found = []
    for row in rows:
        initial = lifecycle.CarrierState(status=row.initial_status, level=row.initial_level)
        replayed = lifecycle.replay(initial, history[row.id], carrier_id=row.id)
        policy = policies.get((row.type, replayed.level)) or lifecycle.Policy()
        dates = state.dates_of(row, replayed, policy, reported.get(row.id, set()), day)
        past = PastCarrier(row, replayed, dates)
        if matches(past, filters):
            found.append(past)
    return found


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
