"""The status machine and the date rules as pure functions (SPEC §2.3, §2.4, §3.2)."""

import datetime as dt
from types import SimpleNamespace

import pytest

from registry import lifecycle
from registry.errors import with_article
from registry.lifecycle import CarrierState, LifecycleError, Policy
from registry.vocabulary import CARRIER_STATUSES

D = dt.date


def milestone(kind, on="2024-03-01", **fields):
    values = {name: None for name in lifecycle.OPTIONAL_FIELDS}
    values.update(fields)
    return SimpleNamespace(kind=kind, occurred_on=D.fromisoformat(on), **values)


# (kind, result) -> {status recorded in: status after}; every status not listed refuses it.
# Written out by hand from SPEC §2.3 so that the table in lifecycle.py is checked, not echoed.
TRANSITIONS = {
    ("application_submitted", None): {
        "submitted": "applying",
        "applying": "applying",
        "rejected": "applying",
        "expired": "applying",
        "revoked": "applying",
    },
    ("accredited", None): {
        "submitted": "accredited",
        "applying": "accredited",
        "expired": "accredited",
    },
    ("level_changed", None): {"accredited": "accredited"},
    ("annual_assessment", "pass"): {"accredited": "accredited", "rectifying": "accredited"},
    ("annual_assessment", "fail"): {"accredited": "rectifying", "rectifying": "rectifying"},
    ("mid_term_evaluation", "good"): {"accredited": "accredited", "rectifying": "accredited"},
    ("mid_term_evaluation", "fail"): {"accredited": "rectifying", "rectifying": "rectifying"},
    ("term_evaluation", "excellent"): {
        "accredited": "accredited",
        "rectifying": "accredited",
        "expired": "accredited",
    },
    ("term_evaluation", "fail"): {
        "accredited": "rectifying",
        "rectifying": "rectifying",
        "expired": "rectifying",
    },
    ("rectification_completed", None): {"rectifying": "accredited"},
    ("revoked", None): {"accredited": "revoked", "rectifying": "revoked", "expired": "revoked"},
    ("closed", None): {
        "applying": "closed",
        "accredited": "closed",
        "rectifying": "closed",
        "expired": "closed",
        "revoked": "closed",
    },
    ("expired", None): {"accredited": "expired"},
}
CASES = [
    (kind, result, status, TRANSITIONS[(kind, result)].get(status))
    for (kind, result) in TRANSITIONS
    for status in CARRIER_STATUSES
]


def test_the_table_covers_every_kind():
    assert {kind for kind, _ in TRANSITIONS} == set(lifecycle.ALLOWED_FROM)
    for (kind, _), moves in TRANSITIONS.items():
        assert set(moves) == set(lifecycle.ALLOWED_FROM[kind]), kind
        assert set(moves.values()) <= lifecycle.ENTERS[kind], kind


@pytest.mark.parametrize("kind,result,status,after", CASES)
def test_every_transition(kind, result, status, after):
    state = CarrierState(status=status, level="municipal")
    level = "provincial" if kind == "level_changed" else None
    step = milestone(kind, result=result, level=level)
    if after is None:
        with pytest.raises(LifecycleError) as refused:
            lifecycle.apply(state, step, carrier_id=12)
        article = "an" if status[0] in "aeiou" else "a"
        kind_article = "an" if kind[0] in "aeiou" else "a"
        assert str(refused.value) == (
            f"Carrier 12 is {status}; {kind_article} {kind} cannot be recorded for "
            f"{article} {status} carrier."
        )
    else:
        assert lifecycle.apply(state, step, carrier_id=12).status == after


def test_conflict_message_matches_the_example():
    assert lifecycle.conflict_message(12, "revoked", "term_evaluation") == (
        "Carrier 12 is revoked; a term_evaluation cannot be recorded for a revoked carrier."
    )


def test_level_change_must_change_the_level():
    state = CarrierState(status="accredited", level="municipal")
    with pytest.raises(LifecycleError, match="already municipal"):
        lifecycle.apply(state, milestone("level_changed", level="municipal"), carrier_id=3)


def test_accreditation_sets_the_accreditation_columns():
    state = lifecycle.apply(
        CarrierState(status="applying", level="county"),
        milestone(
            "accredited",
            on="2020-05-06",
            level="provincial",
            certificate_no="ZJ-1",
            valid_until=D(2023, 1, 1),
        ),
    )
    assert state == CarrierState(
        status="accredited",
        level="provincial",
        accredited_on=D(2020, 5, 6),
        certificate_no="ZJ-1",
        valid_until=D(2023, 1, 1),
        cycle_start=D(2020, 5, 6),
    )


def test_failed_evaluation_rectifies_within_three_months_clamped_to_month_end():
    state = CarrierState(status="accredited", level="county", cycle_start=D(2022, 1, 1))
    failed = lifecycle.apply(state, milestone("annual_assessment", "2024-11-30", result="fail"))
    assert failed.status == "rectifying"
    assert failed.rectify_by == D(2025, 2, 28)
    explicit = lifecycle.apply(
        state,
        milestone("term_evaluation", "2024-11-30", result="fail", rectify_by=D(2025, 6, 1)),
    )
    assert explicit.rectify_by == D(2025, 6, 1)
    assert explicit.cycle_start == D(2022, 1, 1)  # a failed term evaluation renews nothing
    done = lifecycle.apply(explicit, milestone("rectification_completed", "2025-01-10"))
    assert (done.status, done.rectify_by) == ("accredited", None)


def test_passed_term_evaluation_starts_a_new_cycle():
    state = CarrierState(
        status="accredited",
        level="county",
        accredited_on=D(2021, 3, 1),
        valid_until=D(2024, 3, 1),
        cycle_start=D(2021, 3, 1),
    )
    renewed = lifecycle.apply(state, milestone("term_evaluation", "2024-02-29", result="pass"))
    assert renewed.cycle_start == D(2024, 2, 29)
    assert renewed.valid_until is None  # the policy's term applies from the new cycle
    assert renewed.accredited_on == D(2021, 3, 1)


# --- field rules of a milestone ------------------------------------------------------

TODAY = D(2025, 6, 30)


def check(kind, **fields):
    data = {"kind": kind, "occurred_on": D(2025, 1, 10), **fields}
    return lifecycle.check_milestone(data, TODAY)


@pytest.mark.parametrize("kind", sorted(lifecycle.EVALUATION_KINDS))
def test_evaluations_need_a_result(kind):
    assert check(kind, result="pass") == {}
    assert check(kind)["result"] == [f"{with_article(kind, True)} milestone needs a result."]


@pytest.mark.parametrize(
    "kind",
    ["application_submitted", "accredited", "level_changed", "rectification_completed", "revoked"],
)
def test_only_evaluations_take_a_result(kind):
    errors = check(kind, result="pass", level="county" if kind == "level_changed" else None)
    assert errors["result"][0].startswith(f"{with_article(kind, True)} milestone takes no result")


@pytest.mark.parametrize(
    "kind", ["application_submitted", "annual_assessment", "term_evaluation", "revoked", "closed"]
)
def test_only_accreditation_and_level_change_take_a_level(kind):
    errors = check(
        kind, level="national", result="pass" if "eval" in kind or "assess" in kind else None
    )
    assert errors["level"][0].startswith(f"{with_article(kind, True)} milestone takes no level")


def test_messages_name_a_kind_with_the_right_article():
    assert check("annual_assessment")["result"] == [
        "An annual_assessment milestone needs a result."
    ]
    assert check("accredited", result="pass")["result"][0].startswith(
        "An accredited milestone takes no result"
    )


def test_level_change_needs_a_level():
    assert check("level_changed")["level"] == ["A level_changed milestone needs a level."]
    assert check("level_changed", level="national") == {}
    assert check("accredited") == {}  # keeps the carrier's level


def test_future_dates_are_refused_today_is_not():
    future = {"kind": "closed", "occurred_on": TODAY + dt.timedelta(days=1)}
    assert "occurred_on" in lifecycle.check_milestone(future, TODAY)
    assert lifecycle.check_milestone({"kind": "closed", "occurred_on": TODAY}, TODAY) == {}


def test_deadlines_come_after_the_milestone():
    assert "valid_until" in check("accredited", valid_until=D(2025, 1, 10))
    assert check("accredited", valid_until=D(2028, 1, 10)) == {}
    assert "rectify_by" in check("annual_assessment", result="pass", rectify_by=D(2025, 3, 1))
    assert "rectify_by" in check("annual_assessment", result="fail", rectify_by=D(2024, 3, 1))
    assert check("annual_assessment", result="fail", rectify_by=D(2025, 3, 1)) == {}
    assert "valid_until" in check("term_evaluation", result="fail", valid_until=D(2028, 1, 1))
    assert check("term_evaluation", result="good", valid_until=D(2028, 1, 1)) == {}


# --- derived dates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "day,years,expected",
    [
        (D(2024, 2, 29), 1, D(2025, 2, 28)),
        (D(2024, 2, 29), 4, D(2028, 2, 29)),
        (D(2023, 12, 31), 1, D(2024, 12, 31)),
        (D(2024, 3, 1), 3, D(2027, 3, 1)),
    ],
)
def test_add_years(day, years, expected):
    assert lifecycle.add_years(day, years) == expected


@pytest.mark.parametrize(
    "day,months,expected",
    [
        (D(2024, 11, 30), 3, D(2025, 2, 28)),
        (D(2023, 11, 30), 3, D(2024, 2, 29)),
        (D(2024, 10, 31), 3, D(2025, 1, 31)),
        (D(2024, 12, 31), 3, D(2025, 3, 31)),
    ],
)
def test_add_months_clamps(day, months, expected):
    assert lifecycle.add_months(day, months) == expected


@pytest.mark.parametrize(
    "text,ok",
    [
        ("03-31", True),
        ("02-29", True),
        ("12-31", True),
        ("02-30", False),
        ("04-31", False),
        ("13-01", False),
        ("00-10", False),
        ("3-31", False),
        ("03/31", False),
        ("0331", False),
        ("ab-cd", False),
        ("03-31 ", False),
    ],
)
def test_is_month_day(text, ok):
    assert lifecycle.is_month_day(text) is ok


def test_month_day_in_leap_and_common_years():
    assert lifecycle.month_day(2028, "02-29") == D(2028, 2, 29)
    assert lifecycle.month_day(2027, "02-29") == D(2027, 2, 28)


def derive(policy, today=TODAY, reported=(), status="accredited", **state):
    values = {
        "accredited_on": None,
        "milestone_valid_until": None,
        "valid_until_override": None,
        "cycle_start": None,
        "last_evaluation_on": None,
        "next_evaluation_override": None,
    }
    values.update(state)
    return lifecycle.derive(
        status=status, reported_years=set(reported), policy=policy, today=today, **values
    )


THREE_YEARS = Policy(term_years=3, report_due="03-31")


def test_valid_until_from_the_milestone_else_the_term_and_override_wins():
    accredited = {"accredited_on": D(2024, 2, 29), "cycle_start": D(2024, 2, 29)}
    assert derive(THREE_YEARS, **accredited).valid_until == D(2027, 2, 28)
    stated = derive(THREE_YEARS, milestone_valid_until=D(2026, 12, 31), **accredited)
    assert stated.valid_until == D(2026, 12, 31)
    overridden = derive(
        THREE_YEARS,
        milestone_valid_until=D(2026, 12, 31),
        valid_until_override=D(2030, 1, 1),
        **accredited,
    )
    assert overridden.valid_until == D(2030, 1, 1)
    assert derive(Policy(), **accredited).valid_until is None


def test_next_evaluation_end_of_cycle_or_yearly_whichever_first():
    start = {"accredited_on": D(2023, 12, 31), "cycle_start": D(2023, 12, 31)}
    assert derive(THREE_YEARS, **start).next_evaluation_on == D(2026, 12, 31)
    yearly = Policy(annual_assessment=True, term_years=3)
    assert derive(yearly, **start).next_evaluation_on == D(2024, 12, 31)
    assessed = derive(yearly, last_evaluation_on=D(2024, 12, 20), **start)
    assert assessed.next_evaluation_on == D(2025, 12, 20)
    late = derive(yearly, last_evaluation_on=D(2026, 6, 1), **start)
    assert late.next_evaluation_on == D(2026, 12, 31)  # the end of the cycle comes first
    no_term = Policy(annual_assessment=True)
    assert derive(no_term, **start).next_evaluation_on == D(2024, 12, 31)
    assert derive(Policy(), **start).next_evaluation_on is None
    override = derive(THREE_YEARS, next_evaluation_override=D(2025, 1, 1), **start)
    assert override.next_evaluation_on == D(2025, 1, 1)


@pytest.mark.parametrize("status", ["applying", "revoked", "closed", "submitted", "rejected"])
def test_inactive_carriers_have_no_evaluation_or_report_due(status):
    dates = derive(
        THREE_YEARS, status=status, accredited_on=D(2023, 1, 1), cycle_start=D(2023, 1, 1)
    )
    assert dates.next_evaluation_on is None and dates.next_report_due_on is None


@pytest.mark.parametrize("status", ["accredited", "rectifying", "expired"])
def test_active_carriers_report_and_are_evaluated(status):
    dates = derive(
        THREE_YEARS, status=status, accredited_on=D(2023, 1, 1), cycle_start=D(2023, 1, 1)
    )
    assert dates.next_evaluation_on == D(2026, 1, 1)
    assert dates.next_report_due_on == D(2024, 3, 31)


def test_next_report_across_the_year_end():
    start = {"accredited_on": D(2023, 12, 31), "cycle_start": D(2023, 12, 31)}
    first = derive(THREE_YEARS, **start)
    assert (first.next_report_year, first.next_report_due_on) == (2023, D(2024, 3, 31))
    after = derive(THREE_YEARS, reported={2023}, **start)
    assert (after.next_report_year, after.next_report_due_on) == (2024, D(2025, 3, 31))
    gap = derive(THREE_YEARS, reported={2023, 2025}, **start)
    assert gap.next_report_year == 2024  # the oldest missing year is the one due
    all_in = derive(THREE_YEARS, reported={2023, 2024, 2025}, **start)
    assert (all_in.next_report_year, all_in.next_report_due_on) == (2026, D(2027, 3, 31))


def test_report_due_on_a_leap_day():
    leap = Policy(term_years=3, report_due="02-29")
    start = {"accredited_on": D(2023, 6, 1), "cycle_start": D(2023, 6, 1)}
    assert derive(leap, **start).next_report_due_on == D(2024, 2, 29)
    assert derive(leap, reported={2023}, **start).next_report_due_on == D(2025, 2, 28)
    assert derive(Policy(term_years=3), **start).next_report_due_on is None
