"""Roster rules (issue 12): who may be on which carrier's roster, what an entry must say, and
the alerts that follow from a roster (SPEC §3.3 ``postdoc_overstay``, ``no_postdoc_recruited``,
``incubation_overdue``).

Framework-free, like ``registry.lifecycle``: plain data in, errors or wanted alerts out. The
domain module ``registry.rosters`` stores entries, the scan and ``/deadlines`` ask
:func:`roster_deadlines` which dates are due, and the metrics are counted by
:func:`metrics_of`.

Defaults (each configurable per evaluation policy, ``roster_rules``):

* a postdoc's planned stay is 2 years from 进站, extendable **once** by up to 1 year
  (博士后在站时间一般为两年; the extension length is our documented choice);
* a postdoctoral station must recruit its first postdoc within 2 years of its accreditation
  (local rules warn stations that recruit none);
* a resident enterprise may stay in a park or maker space at most 3 years (incubation period:
  not found in a published rule, a common choice of incubator rules; say so to the bureau).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from registry.lifecycle import ACTIVE_STATUSES, add_years

POSTDOC_TYPES = frozenset({"postdoc_workstation", "postdoc_innovation_base"})
PARK_TYPES = frozenset({"innovation_park", "maker_space"})
TRAINING_TYPES = frozenset(
    {"continuing_education_base", "public_training_base", "joint_training_base"}
)

#: role -> the carrier types whose rosters it may appear on.
ROLE_TYPES: dict[str, frozenset[str]] = {
    "postdoc": POSTDOC_TYPES,
    "expert": frozenset({"expert_workstation"}),
    "master": frozenset({"skill_master_studio"}),
    "apprentice": frozenset({"skill_master_studio"}),
    "resident_enterprise": PARK_TYPES,
    "trainee_cohort": TRAINING_TYPES,
}

#: Fields every entry may carry besides its role.
COMMON_FIELDS = frozenset({"started_on", "ended_on", "outcome"})
#: role -> the other fields it takes (SPEC §5.1); anything else is a 422.
ROLE_FIELDS: dict[str, frozenset[str]] = {
    "postdoc": frozenset({"name", "institution", "topic", "planned_end_on"}),
    "expert": frozenset({"name", "institution", "title", "topic", "planned_end_on"}),
    "master": frozenset({"name", "institution", "title", "topic"}),
    "apprentice": frozenset({"name", "institution", "title"}),
    "resident_enterprise": frozenset({"organization_id", "topic"}),
    "trainee_cohort": frozenset({"name", "size", "planned_end_on"}),
}
#: role -> fields it cannot do without.
ROLE_REQUIRED: dict[str, frozenset[str]] = {
    "postdoc": frozenset({"name", "started_on"}),
    "expert": frozenset({"name", "institution", "started_on"}),
    "master": frozenset({"name", "started_on"}),
    "apprentice": frozenset({"name", "started_on"}),
    "resident_enterprise": frozenset({"organization_id", "started_on"}),
    "trainee_cohort": frozenset({"name", "size", "started_on"}),
}
#: role -> outcomes it may end with. A postdoc's ``extended`` means still in station after
#: its one extension; every other outcome needs ``ended_on`` (出站, move-out, end).
ROLE_OUTCOMES: dict[str, frozenset[str]] = {
    "postdoc": frozenset({"completed", "extended", "withdrawn"}),
    "expert": frozenset({"completed", "terminated"}),
    "master": frozenset({"completed", "terminated"}),
    "apprentice": frozenset({"completed", "withdrawn"}),
    "resident_enterprise": frozenset({"graduated", "moved_out"}),
    "trainee_cohort": frozenset({"completed"}),
}
#: Outcomes that describe an entry still on the roster (no ``ended_on``).
OPEN_OUTCOMES = frozenset({"extended"})
#: The fields that describe a person: never public, masked in the audit trail for readers
#: other than the bureau, removed by erasure. (No ID numbers or birth dates are kept at all.)
PERSONAL_FIELDS = ("name", "institution", "title", "topic")


@dataclass(frozen=True)
class RosterPolicy:
    """The roster parts of an evaluation policy (``roster_rules``), with their defaults."""

    postdoc_stay_years: int = 2
    postdoc_extension_years: int = 1
    recruit_within_years: int = 2
    incubation_years: int = 3

    @classmethod
    def from_stored(cls, stored: dict | None) -> RosterPolicy:
        """A policy's stored ``roster_rules`` (missing keys take the defaults)."""
        known = {key: value for key, value in (stored or {}).items() if key in ROSTER_POLICY_KEYS}
        return cls(**known)


ROSTER_POLICY_KEYS = tuple(RosterPolicy.__dataclass_fields__)


def roles_for(carrier_type: str) -> list[str]:
    """The roles a carrier of ``carrier_type`` may have on its roster."""
    return [role for role, types in ROLE_TYPES.items() if carrier_type in types]


def default_planned_end(role: str, started_on: dt.date | None, policy: RosterPolicy):
    """A postdoc's planned 出站 date when none is given: 进站 + the planned stay."""
    if role != "postdoc" or started_on is None:
        return None
    return add_years(started_on, policy.postdoc_stay_years)


def identity(entry: dict[str, Any]) -> tuple | None:
    """Who an entry is about, for the overlap rule: the enterprise, or the (trimmed,
    case-folded) name; None for an erased entry."""
    if entry.get("organization_id") is not None:
        return ("organization", entry["organization_id"])
    name = (entry.get("name") or "").strip().casefold()
    return ("name", name) if name else None


def _overlaps(a_start, a_end, b_start, b_end) -> bool:
    far = dt.date.max
    a_start, b_start = a_start or dt.date.min, b_start or dt.date.min
    return a_start < (b_end or far) and b_start < (a_end or far)


def check_entry(
    entry: dict[str, Any],
    *,
    carrier_type: str,
    previous: dict[str, Any] | None,
    others: Iterable[dict[str, Any]],
    policy: RosterPolicy,
    today: dt.date,
) -> dict[str, list[str]]:
    """The field errors of a roster entry as it will be stored (422), empty when it is fine.

    ``previous`` is the stored entry on an edit (None on creation); ``others`` the other
    entries of the same carrier. The rules: the role fits the carrier type; only the role's
    fields, its required ones present; 出站 (``ended_on``) needs 进站 (``started_on``) and
    not before it, and not in the future; an outcome fits the role and an ended entry; no
    overlapping stays of the same person (or enterprise) at one carrier; a postdoc's planned
    stay is extended at most once, by at most ``postdoc_extension_years``.
    """
    role = entry["role"]
    if role not in ROLE_TYPES:
        return {"role": [f"Not a roster role: {role}."]}
    if carrier_type not in ROLE_TYPES[role]:
        allowed = ", ".join(roles_for(carrier_type)) or "none"
        return {"role": [f"A {carrier_type} has no {role} on its roster (its roles: {allowed})."]}
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    takes = ROLE_FIELDS[role] | COMMON_FIELDS
    for name in sorted(set(ROLE_FIELDS_ALL) - takes):
        if entry.get(name) is not None:
            add(name, f"A {role} entry takes no {name}.")
    for name in sorted(ROLE_REQUIRED[role] - {"started_on"}):
        erased = entry.get("erased") and name in PERSONAL_FIELDS
        if entry.get(name) is None and not erased:
            add(name, f"A {role} entry needs a {name}.")
    started, ended = entry.get("started_on"), entry.get("ended_on")
    planned = entry.get("planned_end_on")
    if ended is not None and started is None:
        add("ended_on", "出站/move-out (ended_on) without 进站/move-in (started_on).")
    elif "started_on" in ROLE_REQUIRED[role] and started is None:
        add("started_on", f"A {role} entry needs a started_on.")
    if started is not None and ended is not None and ended < started:
        add("ended_on", f"ended_on ({ended}) is before started_on ({started}).")
    if ended is not None and ended > today:
        add("ended_on", f"ended_on cannot be in the future (today is {today}).")
    if started is not None and planned is not None and planned <= started:
        add("planned_end_on", f"planned_end_on must come after started_on ({started}).")
    outcome = entry.get("outcome")
    if outcome is not None:
        if outcome not in ROLE_OUTCOMES[role]:
            add("outcome", f"A {role} entry ends {', '.join(sorted(ROLE_OUTCOMES[role]))}.")
        elif outcome in OPEN_OUTCOMES and ended is not None:
            add("outcome", f"An {outcome} entry has not ended: drop ended_on or the outcome.")
        elif outcome not in OPEN_OUTCOMES and ended is None:
            add("outcome", f"Outcome {outcome} needs ended_on.")
    if role == "postdoc" and started is not None and planned is not None:
        _check_extension(entry, previous, policy, add)
    me = identity(entry)
    if me is not None:
        for other in others:
            if identity(other) == me and _overlaps(
                started, ended, other.get("started_on"), other.get("ended_on")
            ):
                add(
                    "started_on",
                    f"Overlaps entry {other['id']} of the same person or enterprise "
                    f"({other.get('started_on')} to {other.get('ended_on') or 'now'}).",
                )
                break
    return errors


def _check_extension(entry, previous, policy: RosterPolicy, add) -> None:
    started, planned = entry["started_on"], entry["planned_end_on"]
    regular = add_years(started, policy.postdoc_stay_years)
    longest = add_years(regular, policy.postdoc_extension_years)
    if planned > longest:
        add(
            "planned_end_on",
            f"A postdoc stays at most {policy.postdoc_stay_years} years, extended once by "
            f"{policy.postdoc_extension_years}: planned_end_on may be {longest} at the latest.",
        )
        return
    if previous is not None and previous.get("extended") and planned > previous["planned_end_on"]:
        add("planned_end_on", "This postdoc's stay was extended once already.")


def is_extension(entry: dict, previous: dict | None, policy: RosterPolicy) -> bool:
    """Whether storing ``entry`` extends a postdoc's planned stay beyond its regular length
    (the one extension allowed)."""
    if entry["role"] != "postdoc" or not entry.get("started_on") or not entry.get("planned_end_on"):
        return False
    regular = add_years(entry["started_on"], policy.postdoc_stay_years)
    before = (previous or {}).get("planned_end_on")
    return entry["planned_end_on"] > regular and (
        before is None or entry["planned_end_on"] > before
    )


ROLE_FIELDS_ALL = frozenset().union(*ROLE_FIELDS.values())


def on_roster(started_on, ended_on, day: dt.date) -> bool:
    """Whether an entry is on the roster on ``day``: started by then, not ended by then."""
    return started_on is not None and started_on <= day and (ended_on is None or ended_on > day)


# --- alerts and deadlines (SPEC §3.3) ---------------------------------------------------


@dataclass(frozen=True)
class RosterRule:
    """A deadline that follows from a roster: its alert kind and label.

    A roster alert opens ``max(warn_days)`` days before its date (the carrier's policy window)
    and stays open, with a negative ``days_left``, until its condition is gone: the postdoc
    left, the station recruited, the enterprise moved out. It has no separate overdue kind.
    """

    name: str
    kind: str
    label: str
    types: frozenset[str]


ROSTER_RULES: tuple[RosterRule, ...] = (
    RosterRule("postdoc_stay", "postdoc_overstay", "博士后计划出站", POSTDOC_TYPES),
    RosterRule("postdoc_recruitment", "no_postdoc_recruited", "招收博士后期限", POSTDOC_TYPES),
    RosterRule("incubation", "incubation_overdue", "孵化期满", PARK_TYPES),
)
ROSTER_ALERT_KINDS: tuple[str, ...] = tuple(rule.kind for rule in ROSTER_RULES)
RULES_BY_NAME = {rule.name: rule for rule in ROSTER_RULES}


def roster_deadlines(
    carrier: Any, entries: Iterable[Any], policy: RosterPolicy, day: dt.date
) -> list[tuple[RosterRule, dt.date]]:
    """The roster deadlines of ``carrier`` (``type``, ``status``, ``accredited_on``) on
    ``day``, from its entries (``role``, ``started_on``, ``planned_end_on``, ``ended_on``):

    * ``postdoc_stay``: each postdoc in station on ``day``, due on its planned 出站 date;
    * ``postdoc_recruitment``: a postdoctoral carrier with no postdoc in station on or after
      its accreditation (up to ``day``), due ``recruit_within_years`` after it;
    * ``incubation``: each enterprise resident on ``day``, due ``incubation_years`` after
      it moved in.

    Only carriers holding an accreditation (accredited, rectifying, expired) are concerned.
    Duplicates (two postdocs planned out the same day) are one deadline.
    """
    if carrier.status not in ACTIVE_STATUSES:
        return []
    found: dict[tuple[str, dt.date], RosterRule] = {}
    entries = list(entries)
    if carrier.type in POSTDOC_TYPES:
        for entry in entries:
            if entry.role == "postdoc" and on_roster(entry.started_on, entry.ended_on, day):
                planned = entry.planned_end_on or default_planned_end(
                    "postdoc", entry.started_on, policy
                )
                found[("postdoc_stay", planned)] = RULES_BY_NAME["postdoc_stay"]
        accredited_on = carrier.accredited_on
        if accredited_on is not None and accredited_on <= day:
            recruited = any(
                entry.role == "postdoc"
                and entry.started_on is not None
                and entry.started_on <= day
                and (entry.ended_on is None or entry.ended_on >= accredited_on)
                for entry in entries
            )
            if not recruited:
                due = add_years(accredited_on, policy.recruit_within_years)
                found[("postdoc_recruitment", due)] = RULES_BY_NAME["postdoc_recruitment"]
    if carrier.type in PARK_TYPES:
        for entry in entries:
            if entry.role == "resident_enterprise" and on_roster(
                entry.started_on, entry.ended_on, day
            ):
                due = add_years(entry.started_on, policy.incubation_years)
                found[("incubation", due)] = RULES_BY_NAME["incubation"]
    return [(rule, due) for (_, due), rule in sorted(found.items(), key=lambda kv: kv[0][1])]


def wanted_alert(due_on: dt.date, day: dt.date, window: int) -> bool:
    """Whether a roster deadline raises its alert on ``day``: inside the window, or past."""
    return (due_on - day).days <= window


# --- metrics ----------------------------------------------------------------------------

#: The live roster figures shown on carriers (public: counts only, never names).
METRICS = (
    "postdocs_in_station",
    "postdocs_completed",
    "experts_active",
    "resident_enterprises",
    "graduated_enterprises",
)


def metrics_of(entries: Iterable[Any], day: dt.date) -> dict[str, Any]:
    """The roster figures of one carrier on ``day`` (entries with ``role``, ``started_on``,
    ``ended_on``, ``outcome``): in station / active / resident on ``day``, completed 出站 per
    year (``{"2024": 2}``), graduated enterprises in all."""
    figures: dict[str, Any] = {name: 0 for name in METRICS}
    completed: dict[str, int] = {}
    for entry in entries:
        active = on_roster(entry.started_on, entry.ended_on, day)
        if entry.role == "postdoc":
            figures["postdocs_in_station"] += active
            if entry.outcome == "completed" and entry.ended_on and entry.ended_on <= day:
                year = str(entry.ended_on.year)
                completed[year] = completed.get(year, 0) + 1
        elif entry.role == "expert":
            figures["experts_active"] += active
        elif entry.role == "resident_enterprise":
            figures["resident_enterprises"] += active
            if entry.outcome == "graduated" and entry.ended_on and entry.ended_on <= day:
                figures["graduated_enterprises"] += 1
    figures["postdocs_completed"] = dict(sorted(completed.items()))
    return figures


def _during(entry, year: int) -> bool:
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    return (
        entry.started_on is not None
        and entry.started_on <= end
        and (entry.ended_on is None or entry.ended_on >= start)
    )


def report_figures(carrier_type: str, entries: Iterable[Any], year: int) -> dict[str, float]:
    """Annual-report metrics of ``year`` that the roster can answer, for pre-filling a report
    and showing the reviewer where a report's figure and the roster disagree."""
    entries = list(entries)
    year_end = dt.date(year, 12, 31)
    ended_in = lambda e, outcome: (  # noqa: E731
        e.outcome == outcome and e.ended_on is not None and e.ended_on.year == year
    )
    if carrier_type in POSTDOC_TYPES:
        postdocs = [e for e in entries if e.role == "postdoc"]
        return {
            "postdocs_in_station": sum(
                on_roster(e.started_on, e.ended_on, year_end) for e in postdocs
            ),
            "postdocs_recruited": sum(
                e.started_on is not None and e.started_on.year == year for e in postdocs
            ),
            "postdocs_completed": sum(ended_in(e, "completed") for e in postdocs),
        }
    if carrier_type == "expert_workstation":
        return {"experts_engaged": sum(e.role == "expert" and _during(e, year) for e in entries)}
    if carrier_type == "skill_master_studio":
        return {
            "apprentices_trained": sum(e.role == "apprentice" and _during(e, year) for e in entries)
        }
    if carrier_type in PARK_TYPES:
        residents = [e for e in entries if e.role == "resident_enterprise"]
        figures = {"enterprises_incubated": sum(_during(e, year) for e in residents)}
        if carrier_type == "innovation_park":
            figures["enterprises_graduated"] = sum(ended_in(e, "graduated") for e in residents)
        return figures
    if carrier_type in TRAINING_TYPES:
        cohorts = [e for e in entries if e.role == "trainee_cohort" and _during(e, year)]
        return {"trainees_trained": sum(e.size or 0 for e in cohorts)}
    return {}
