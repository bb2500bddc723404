"""The carrier status machine (SPEC §2.3, §2.4) and the derived dates (SPEC §3.2).

The only place these rules live: the API, the scan job, the calendar, imports and the demo
loader all call the functions here. A carrier's lifecycle columns are always the result of
replaying its non-voided milestones, in order, from its initial status.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from registry.errors import with_article

#: Statuses in which a carrier holds an accreditation that is evaluated and reported on.
ACTIVE_STATUSES = frozenset({"accredited", "rectifying", "expired"})
EVALUATION_KINDS = frozenset({"annual_assessment", "mid_term_evaluation", "term_evaluation"})
PASSING_RESULTS = frozenset({"excellent", "good", "pass"})
#: Written by the scan job only, never posted by a client.
SYSTEM_KINDS = frozenset({"expired"})
#: Annual report statuses that count as reported; a returned report is still due.
COUNTED_REPORT_STATUSES = frozenset({"submitted", "accepted"})
#: Default time to rectify after a failed evaluation (one city's published 3-month rule).
RECTIFY_MONTHS = 3


class LifecycleError(Exception):
    """A transition the status machine refuses (answered with 409)."""


class ReplayError(LifecycleError):
    """A history that does not replay: ``milestone`` is the first one refused."""

    def __init__(self, message: str, milestone: Any):
        super().__init__(message)
        self.milestone = milestone


@dataclass(frozen=True)
class CarrierState:
    """The lifecycle columns of a carrier at one point of its history."""

    status: str
    level: str
    accredited_on: dt.date | None = None
    certificate_no: str | None = None
    #: Validity end stated by the milestone that started the cycle (accreditation or passed
    #: term evaluation) or by a later level change; None when the policy's term applies.
    valid_until: dt.date | None = None
    #: Last accreditation or passing term evaluation: the start of the evaluation cycle.
    cycle_start: dt.date | None = None
    #: Last evaluation of any kind (for yearly assessments).
    last_evaluation_on: dt.date | None = None
    rectify_by: dt.date | None = None


class MilestoneLike(Protocol):
    kind: str
    occurred_on: dt.date
    level: str | None
    result: str | None
    certificate_no: str | None
    valid_until: dt.date | None
    rectify_by: dt.date | None


@dataclass(frozen=True)
class Policy:
    """The parts of an evaluation policy the date rules need (SPEC §3.1)."""

    annual_assessment: bool = False
    term_years: int | None = None
    report_due: str | None = None
    warn_days: list[int] = field(default_factory=lambda: [90, 30, 7])


#: kind -> statuses it may be recorded in (SPEC §2.3). Anything else is a 409.
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "application_submitted": frozenset({"submitted", "applying", "rejected", "expired", "revoked"}),
    "accredited": frozenset({"submitted", "applying", "expired"}),
    "level_changed": frozenset({"accredited"}),
    "annual_assessment": frozenset({"accredited", "rectifying"}),
    "mid_term_evaluation": frozenset({"accredited", "rectifying"}),
    "term_evaluation": frozenset({"accredited", "rectifying", "expired"}),
    "rectification_completed": frozenset({"rectifying"}),
    "revoked": frozenset({"accredited", "rectifying", "expired"}),
    "closed": frozenset({"applying", "accredited", "rectifying", "expired", "revoked"}),
    "expired": frozenset({"accredited"}),
}

#: kind -> the statuses it can lead to (an evaluation: accredited when passed, rectifying when
#: failed). ``submitted`` and ``rejected`` are never entered by a milestone: only a carrier's
#: initial status can be one of them.
ENTERS: dict[str, frozenset[str]] = {
    "application_submitted": frozenset({"applying"}),
    "accredited": frozenset({"accredited"}),
    "level_changed": frozenset({"accredited"}),
    **{kind: frozenset({"accredited", "rectifying"}) for kind in sorted(EVALUATION_KINDS)},
    "rectification_completed": frozenset({"accredited"}),
    "revoked": frozenset({"revoked"}),
    "closed": frozenset({"closed"}),
    "expired": frozenset({"expired"}),
}

#: The optional fields each kind takes besides ``occurred_on``, ``document_ref`` and ``note``
#: (SPEC §2.4): only the accreditation and the level change carry a level, only the three
#: evaluations a result, a passing term evaluation may renew the validity, and a failed
#: evaluation may set the rectification deadline.
KIND_FIELDS: dict[str, frozenset[str]] = {
    "application_submitted": frozenset(),
    "accredited": frozenset({"level", "certificate_no", "valid_until"}),
    "level_changed": frozenset({"level", "certificate_no", "valid_until"}),
    "annual_assessment": frozenset({"result", "rectify_by"}),
    "mid_term_evaluation": frozenset({"result", "rectify_by"}),
    "term_evaluation": frozenset({"result", "valid_until", "rectify_by"}),
    "rectification_completed": frozenset(),
    "revoked": frozenset(),
    "closed": frozenset(),
    "expired": frozenset(),
}
#: Milestone kinds that carry a level; every other kind refuses one.
LEVEL_KINDS = frozenset(kind for kind, fields in KIND_FIELDS.items() if "level" in fields)
#: Fields a kind cannot do without.
REQUIRED_FIELDS: dict[str, frozenset[str]] = {
    "level_changed": frozenset({"level"}),
    **{kind: frozenset({"result"}) for kind in sorted(EVALUATION_KINDS)},
}
OPTIONAL_FIELDS = ("level", "result", "certificate_no", "valid_until", "rectify_by")


def add_years(day: dt.date, years: int) -> dt.date:
    """``day`` moved by whole years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months, clamped to the end of a shorter month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def month_day(year: int, mm_dd: str) -> dt.date:
    """The date of a ``MM-DD`` in ``year``; ``02-29`` falls on 28 February in a common year."""
    month, day = (int(part) for part in mm_dd.split("-"))
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def is_month_day(text: str) -> bool:
    """Whether ``text`` is a real ``MM-DD`` (``02-29`` included: it exists in leap years)."""
    digits = text[:2] + text[3:]
    if len(text) != 5 or text[2] != "-" or not (digits.isascii() and digits.isdigit()):
        return False
    month, day = int(text[:2]), int(text[3:])
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(2000, month)[1]


def _kinds(kinds) -> str:
    names = sorted(kinds)
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def check_milestone(data: dict[str, Any], today: dt.date) -> dict[str, list[str]]:
    """The field errors of a milestone (answered with 422), empty when it is well-formed.

    Whether it fits the carrier's history is :func:`apply`'s question (409); this one is about
    the milestone alone: no future date, only the fields its kind takes (SPEC §2.4), the ones it
    needs, and dates after the milestone where they set a deadline.
    """
    kind = data["kind"]
    if kind not in KIND_FIELDS:
        return {"kind": [f"Not a milestone kind: {kind}."]}
    errors: dict[str, list[str]] = {}
    occurred_on = data["occurred_on"]
    if occurred_on > today:
        errors["occurred_on"] = [f"A milestone cannot be dated in the future (today is {today})."]
    takes = KIND_FIELDS[kind]
    for name in OPTIONAL_FIELDS:
        if data.get(name) is None:
            if name in REQUIRED_FIELDS.get(kind, ()):
                errors[name] = [f"{with_article(kind, True)} milestone needs {with_article(name)}."]
            continue
        if name not in takes:
            takers = [k for k, fields in KIND_FIELDS.items() if name in fields and k != "expired"]
            errors[name] = [
                f"{with_article(kind, True)} milestone takes no {name} (only {_kinds(takers)} do)."
            ]
    result = data.get("result")
    if data.get("rectify_by") is not None and "rectify_by" in takes and result != "fail":
        errors.setdefault("rectify_by", []).append("Only a failed evaluation sets rectify_by.")
    if data.get("valid_until") is not None and kind in EVALUATION_KINDS and result == "fail":
        errors.setdefault("valid_until", []).append("A failed evaluation renews no validity.")
    for name in ("valid_until", "rectify_by"):
        value = data.get(name)
        if value is not None and value <= occurred_on and name not in errors:
            errors[name] = [f"{name} must come after occurred_on ({occurred_on})."]
    return errors


def conflict_message(carrier_id: int | None, status: str, kind: str) -> str:
    """The 409 detail: the current status and the refused milestone (EXAMPLES.md)."""
    return (
        f"{_name(carrier_id)} is {status}; {_article(kind)} {kind} cannot be recorded for "
        f"{_article(status)} {status} carrier."
    )


def _name(carrier_id: int | None) -> str:
    return f"Carrier {carrier_id}" if carrier_id is not None else "The carrier"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def apply(
    state: CarrierState, milestone: MilestoneLike, *, carrier_id: int | None = None
) -> CarrierState:
    """The state after ``milestone``; raises :class:`LifecycleError` for a refused transition.

    The state holds facts only (dates, level, the validity a milestone gave explicitly); what
    follows from a policy is computed by :func:`derive`, so that editing a policy never needs
    a replay.
    """
    kind = milestone.kind
    allowed = ALLOWED_FROM.get(kind)
    if allowed is None:
        raise LifecycleError(f"Unknown milestone kind {kind!r}.")
    if state.status not in allowed:
        raise LifecycleError(conflict_message(carrier_id, state.status, kind))
    on = milestone.occurred_on

    if kind == "application_submitted":
        return replace(state, status="applying")
    if kind == "accredited":
        return replace(
            state,
            status="accredited",
            level=milestone.level or state.level,
            accredited_on=on,
            certificate_no=milestone.certificate_no or state.certificate_no,
            valid_until=milestone.valid_until,
            cycle_start=on,
            last_evaluation_on=None,
            rectify_by=None,
        )
    if kind == "level_changed":
        if milestone.level == state.level:
            raise LifecycleError(
                f"{_name(carrier_id)} is already {state.level}; a level_changed milestone "
                "must change the level."
            )
        return replace(
            state,
            level=milestone.level or state.level,
            certificate_no=milestone.certificate_no or state.certificate_no,
            valid_until=milestone.valid_until or state.valid_until,
        )
    if kind in EVALUATION_KINDS:
        if milestone.result == "fail":
            rectify_by = milestone.rectify_by or add_months(on, RECTIFY_MONTHS)
            return replace(state, status="rectifying", last_evaluation_on=on, rectify_by=rectify_by)
        new = replace(state, status="accredited", last_evaluation_on=on, rectify_by=None)
        if kind == "term_evaluation":
            # A passed term evaluation renews the accreditation: a new cycle starts, with the
            # validity it states or, without one, the policy's term from its date.
            new = replace(new, cycle_start=on, valid_until=milestone.valid_until)
        return new
    if kind == "rectification_completed":
        return replace(state, status="accredited", rectify_by=None)
    if kind == "revoked":
        return replace(state, status="revoked", rectify_by=None)
    if kind == "closed":
        return replace(state, status="closed", rectify_by=None)
    if kind == "expired":
        return replace(state, status="expired")
    raise LifecycleError(f"Unknown milestone kind {kind!r}.")  # pragma: no cover


def replay(
    initial: CarrierState,
    milestones: Iterable[MilestoneLike],
    *,
    carrier_id: int | None = None,
) -> CarrierState:
    """Apply ``milestones`` (already ordered, voided ones excluded) to ``initial``.

    A refused milestone raises :class:`ReplayError`, which names it.
    """
    state = initial
    for milestone in milestones:
        try:
            state = apply(state, milestone, carrier_id=carrier_id)
        except LifecycleError as error:
            raise ReplayError(str(error), milestone) from error
    return state


# --- derived dates (SPEC §3.2) --------------------------------------------------------


@dataclass(frozen=True)
class DerivedDates:
    """The dates of SPEC §3.2 for one carrier."""

    valid_until: dt.date | None
    next_evaluation_on: dt.date | None
    next_report_due_on: dt.date | None
    #: The year whose report is the one due on ``next_report_due_on``.
    next_report_year: int | None


def valid_until(
    cycle_start: dt.date | None,
    milestone_valid_until: dt.date | None,
    override: dt.date | None,
    policy: Policy,
) -> dt.date | None:
    """The end of validity (SPEC §3.2).

    The override wins; else the date the accreditation milestone stated; else the start of
    the cycle + ``term_years``. The cycle starts at the accreditation and again at each passed
    term evaluation (which renews it), so before any term evaluation this is accredited_on +
    ``term_years``.
    """
    if override:
        return override
    if milestone_valid_until:
        return milestone_valid_until
    if cycle_start and policy.term_years:
        return add_years(cycle_start, policy.term_years)
    return None


def next_evaluation_on(
    status: str,
    cycle_start: dt.date | None,
    last_evaluation_on: dt.date | None,
    override: dt.date | None,
    policy: Policy,
) -> dt.date | None:
    """The next evaluation date of an active carrier.

    The override wins; otherwise the end of the cycle (last accreditation or passing term
    evaluation + ``term_years``) and, when the policy asks for a yearly assessment, one year
    after the last evaluation (or the cycle start), whichever comes first.
    """
    if override:
        return override
    if status not in ACTIVE_STATUSES or cycle_start is None:
        return None
    candidates = []
    if policy.term_years:
        candidates.append(add_years(cycle_start, policy.term_years))
    if policy.annual_assessment:
        candidates.append(add_years(max(filter(None, [cycle_start, last_evaluation_on])), 1))
    return min(candidates) if candidates else None


def next_report(
    status: str,
    accredited_on: dt.date | None,
    reported_years: set[int],
    policy: Policy,
    today: dt.date,
) -> tuple[int | None, dt.date | None]:
    """The oldest year without a report and the day its report is due.

    For each year the carrier was accredited, its report is due on ``report_due`` of the
    next year; years already reported are skipped. Only active carriers report.
    """
    if status not in ACTIVE_STATUSES or accredited_on is None or not policy.report_due:
        return None, None
    year = accredited_on.year
    while year in reported_years and year <= today.year:
        year += 1
    return year, month_day(year + 1, policy.report_due)


def derive(
    *,
    status: str,
    accredited_on: dt.date | None,
    milestone_valid_until: dt.date | None,
    valid_until_override: dt.date | None,
    cycle_start: dt.date | None,
    last_evaluation_on: dt.date | None,
    next_evaluation_override: dt.date | None,
    reported_years: set[int],
    policy: Policy,
    today: dt.date,
) -> DerivedDates:
    """Every derived date of one carrier."""
    report_year, report_due_on = next_report(status, accredited_on, reported_years, policy, today)
    return DerivedDates(
        valid_until=valid_until(cycle_start, milestone_valid_until, valid_until_override, policy),
        next_evaluation_on=next_evaluation_on(
            status, cycle_start, last_evaluation_on, next_evaluation_override, policy
        ),
        next_report_due_on=report_due_on,
        next_report_year=report_year,
    )


# --- deadlines and alerts (SPEC §3.3) -------------------------------------------------


@dataclass(frozen=True)
class DeadlineRule:
    """Which stored carrier date is a deadline, for which statuses, and the alerts it raises.

    ``due_kind`` is open while the date is inside the warning window (0 to the largest
    ``warn_days`` days ahead); once the date has passed, ``overdue_kind`` replaces it (the
    due alert is resolved). A rule without an ``overdue_kind`` keeps its due alert open, with
    a negative ``days_left``, until the condition is gone.
    """

    name: str
    column: str
    statuses: frozenset[str]
    due_kind: str
    overdue_kind: str | None
    label: str
    #: Applies only to carriers whose policy says validity lapses by the calendar.
    lapsing_only: bool = False


#: The deadlines of a carrier, read from its stored derived dates (SPEC §3.2):
#: - evaluations concern accredited carriers only (a rectifying carrier's deadline is its
#:   rectification; an expired one is flagged by ``accreditation_expired``);
#: - annual reports are owed while the carrier holds its accreditation (accredited or
#:   rectifying);
#: - the end of validity concerns every carrier that held it (accredited, rectifying,
#:   expired) whose policy lapses by the calendar; once passed it is
#:   ``accreditation_expired`` (carriers evaluated in rounds never lapse: no such alert);
#: - the rectification deadline concerns rectifying carriers and has no overdue kind.
DEADLINE_RULES: tuple[DeadlineRule, ...] = (
    DeadlineRule(
        "evaluation",
        "next_evaluation_on",
        frozenset({"accredited"}),
        "evaluation_due",
        "evaluation_overdue",
        "评估",
    ),
    DeadlineRule(
        "report",
        "next_report_due_on",
        frozenset({"accredited", "rectifying"}),
        "report_due",
        "report_overdue",
        "年度报告",
    ),
    DeadlineRule(
        "accreditation_end",
        "valid_until",
        frozenset({"accredited", "rectifying", "expired"}),
        "accreditation_expiring",
        "accreditation_expired",
        "认定有效期届满",
        lapsing_only=True,
    ),
    DeadlineRule(
        "rectification",
        "rectify_by",
        frozenset({"rectifying"}),
        "rectification_due",
        None,
        "整改期限",
    ),
)

#: Alert kinds of the deadline rules; the roster kinds are ``roster_rules.ROSTER_ALERT_KINDS``.
SCAN_ALERT_KINDS: tuple[str, ...] = tuple(
    kind for rule in DEADLINE_RULES for kind in (rule.due_kind, rule.overdue_kind) if kind
)


def warn_window(warn_days: list[int] | None) -> int:
    """How many days ahead a deadline starts to be flagged: the largest of ``warn_days``."""
    return max(warn_days) if warn_days else 0


def alert_kind(rule: DeadlineRule, due_on: dt.date, day: dt.date, window: int) -> str | None:
    """The alert a deadline raises on ``day``: due inside the window, overdue once passed."""
    days_left = (due_on - day).days
    if days_left < 0:
        return rule.overdue_kind or rule.due_kind
    if days_left <= window:
        return rule.due_kind
    return None


def lapsed(status: str, valid_until: dt.date | None, day: dt.date, lapses: bool = True) -> bool:
    """Whether an accredited carrier's validity ended before ``day`` (it becomes ``expired``).

    A passing term evaluation moves ``valid_until`` on, so a carrier still accredited with
    ``valid_until`` in the past had none (SPEC §2.3: "validity ended without a passing
    evaluation"). A carrier whose policy does not lapse by the calendar (``lapses`` false:
    evaluated in rounds, like national postdoctoral workstations) never lapses.
    """
    return lapses and status == "accredited" and valid_until is not None and valid_until < day


def expiry_date(valid_until: dt.date) -> dt.date:
    """The day a lapsed accreditation expired: the first day after ``valid_until``."""
    return valid_until + dt.timedelta(days=1)
