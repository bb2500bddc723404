"""The deadline scan (SPEC §3.3) on a fixed calendar: windows, overdue, expiry, resolution,
idempotency and bounded queries."""

import datetime as dt

import pytest

from registry import lifecycle, milestones, state
from registry.models import (
    Alert,
    AnnualReport,
    Carrier,
    Change,
    EvaluationPolicy,
    Milestone,
    OutboxEvent,
)

D = dt.date.fromisoformat


def days(start: str, end: str):
    day = D(start)
    while day <= D(end):
        yield day
        day += dt.timedelta(days=1)


def alerts_of(in_db, carrier_id, **where):
    with in_db():
        query = Alert.select().where(Alert.carrier == carrier_id).order_by(Alert.id)
        return [a for a in query if all(getattr(a, name) == value for name, value in where.items())]


def unresolved(in_db, carrier_id):
    return {
        (a.kind, a.due_on, a.days_left)
        for a in alerts_of(in_db, carrier_id)
        if a.status != "resolved"
    }


def events(in_db, event_type):
    with in_db():
        return [e.data for e in OutboxEvent.select().where(OutboxEvent.type == event_type)]


def record(in_db, carrier_id, **data):
    with in_db():
        carrier = Carrier.get_by_id(carrier_id)
        milestones.record_milestone(carrier, data, actor="tests", reconcile=False)


# --- the rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "due,day,window,expected",
    [
        ("2021-01-10", "2020-10-11", 90, None),
        ("2021-01-10", "2020-10-12", 90, "evaluation_due"),
        ("2021-01-10", "2021-01-10", 90, "evaluation_due"),
        ("2021-01-10", "2021-01-11", 90, "evaluation_overdue"),
        ("2021-01-10", "2021-01-10", 0, "evaluation_due"),
        ("2021-01-10", "2021-01-09", 0, None),
    ],
)
def test_alert_kind_windows(due, day, window, expected):
    rule = lifecycle.DEADLINE_RULES[0]
    assert lifecycle.alert_kind(rule, D(due), D(day), window) == expected


def test_rectification_has_no_overdue_kind_and_stays_due():
    rule = next(r for r in lifecycle.DEADLINE_RULES if r.name == "rectification")
    assert lifecycle.alert_kind(rule, D("2021-01-10"), D("2021-02-01"), 90) == "rectification_due"


def test_warn_window_is_the_largest_warning():
    assert lifecycle.warn_window([7, 90, 30]) == 90
    assert lifecycle.warn_window([]) == 0


def test_lapsed_only_for_accredited_carriers_past_validity():
    assert lifecycle.lapsed("accredited", D("2023-01-10"), D("2023-01-11"))
    assert not lifecycle.lapsed("accredited", D("2023-01-10"), D("2023-01-10"))
    assert not lifecycle.lapsed("rectifying", D("2023-01-10"), D("2023-02-01"))
    assert not lifecycle.lapsed("accredited", None, D("2023-02-01"))


# --- walking the calendar -------------------------------------------------------------


def test_carrier_walked_day_by_day_through_the_windows_to_overdue(
    api, admin, carrier_factory, accredit, scan_on, in_db
):
    # County studios: yearly assessment (due a year after accreditation), 3-year validity,
    # report of each year due 31 March of the next; warnings at 90, 30 and 7 days.
    carrier = carrier_factory(type="skill_master_studio", level="county")
    accredit(carrier["id"], "2020-01-10")
    seen = {}
    for day in days("2020-01-10", "2021-04-05"):
        scan_on(day)
        seen[day] = unresolved(in_db, carrier["id"])

    evaluation, report = D("2021-01-10"), D("2021-03-31")
    assert seen[D("2020-10-11")] == set()
    assert seen[D("2020-10-12")] == {("evaluation_due", evaluation, 90)}
    assert seen[D("2020-12-11")] == {("evaluation_due", evaluation, 30)}
    assert seen[D("2020-12-30")] == {("evaluation_due", evaluation, 11)}
    assert seen[D("2020-12-31")] == {
        ("evaluation_due", evaluation, 10),
        ("report_due", report, 90),
    }
    assert ("evaluation_due", evaluation, 7) in seen[D("2021-01-03")]
    assert ("evaluation_due", evaluation, 0) in seen[D("2021-01-10")]
    assert seen[D("2021-01-11")] == {
        ("evaluation_overdue", evaluation, -1),
        ("report_due", report, 79),
    }
    assert ("report_due", report, 0) in seen[D("2021-03-31")]
    assert seen[D("2021-04-01")] == {
        ("evaluation_overdue", evaluation, -81),
        ("report_overdue", report, -1),
    }
    # One row per (carrier, kind, due date) all along: each window moved the same alert.
    rows = alerts_of(in_db, carrier["id"])
    assert sorted((a.kind, a.status, a.opened_on, a.resolved_on) for a in rows) == [
        ("evaluation_due", "resolved", D("2020-10-12"), D("2021-01-11")),
        ("evaluation_overdue", "open", D("2021-01-11"), None),
        ("report_due", "resolved", D("2020-12-31"), D("2021-04-01")),
        ("report_overdue", "open", D("2021-04-01"), None),
    ]
    opened = [e["alert"]["kind"] for e in events(in_db, "alert.opened")]
    resolved = [e["alert"]["kind"] for e in events(in_db, "alert.resolved")]
    assert opened == ["evaluation_due", "report_due", "evaluation_overdue", "report_overdue"]
    assert resolved == ["evaluation_due", "report_due"]
    body = api.get(f"/api/v1/carriers/{carrier['id']}", token=admin).get_json()
    assert body["open_alert_count"] == 2


def test_report_deadline_across_the_year_end(api, admin, carrier_factory, accredit, scan_on, in_db):
    with in_db():
        EvaluationPolicy.update(report_due="01-15").where(
            (EvaluationPolicy.type == "expert_workstation")
            & (EvaluationPolicy.level == "municipal")
        ).execute()
    carrier = carrier_factory(type="expert_workstation", level="municipal")
    accredit(carrier["id"], "2021-06-01")
    due = D("2022-01-15")
    assert (
        api.get(f"/api/v1/carriers/{carrier['id']}", token=admin).get_json()["next_report_due_on"]
        == due.isoformat()
    )
    seen = {}
    for day in days("2021-10-01", "2022-01-20"):
        scan_on(day)
        seen[day] = {k for k in unresolved(in_db, carrier["id"]) if k[0].startswith("report")}
    assert seen[D("2021-10-16")] == set()
    assert seen[D("2021-10-17")] == {("report_due", due, 90)}
    assert seen[D("2021-12-31")] == {("report_due", due, 15)}
    assert seen[D("2022-01-01")] == {("report_due", due, 14)}
    assert seen[D("2022-01-15")] == {("report_due", due, 0)}
    assert seen[D("2022-01-16")] == {("report_overdue", due, -1)}

    # The 2021 report arrives: the next one (2022) is due 2023-01-15, far off.
    with in_db():
        row = Carrier.get_by_id(carrier["id"])
        AnnualReport.create(carrier=row, year=2021, metrics={}, status="submitted")
        state.refresh_dates(row)
        row.save()
    result = scan_on("2022-01-21")
    assert unresolved(in_db, carrier["id"]) == set()
    assert result.resolved == {"report_overdue": 1}
    (overdue,) = alerts_of(in_db, carrier["id"], kind="report_overdue")
    assert (overdue.status, overdue.resolved_on) == ("resolved", D("2022-01-21"))
    assert events(in_db, "alert.resolved")[-1]["alert"]["id"] == overdue.id


def test_scan_twice_changes_nothing(carrier_factory, accredit, scan_on, in_db):
    ids = []
    for level, on in (("county", "2020-01-10"), ("provincial", "2019-12-20"), ("municipal", None)):
        carrier = carrier_factory(level=level)
        if on:
            accredit(carrier["id"], on)
        ids.append(carrier["id"])

    def stored():
        with in_db():
            return (
                [tuple(a.__data__.items()) for a in Alert.select().order_by(Alert.id)],
                OutboxEvent.select().count(),
                Change.select().count(),
                [tuple(c.__data__.items()) for c in Carrier.select().order_by(Carrier.id)],
            )

    first = scan_on("2023-01-20")
    assert sum(first.opened.values()) > 0 and first.expired
    before = stored()
    again = scan_on("2023-01-20")
    assert stored() == before
    assert (sum(again.opened.values()), sum(again.resolved.values())) == (0, 0)
    assert (again.days_left_updated, again.expired) == (0, [])


def test_evaluation_recorded_resolves_the_overdue_alert(carrier_factory, accredit, scan_on, in_db):
    carrier = carrier_factory(level="county")
    accredit(carrier["id"], "2020-01-10")
    scan_on("2021-01-20")
    assert ("evaluation_overdue", D("2021-01-10"), -10) in unresolved(in_db, carrier["id"])
    record(
        in_db, carrier["id"], kind="annual_assessment", occurred_on=D("2021-01-15"), result="good"
    )
    result = scan_on("2021-01-21")
    assert result.resolved["evaluation_overdue"] == 1
    assert not {k for k in unresolved(in_db, carrier["id"]) if k[0].startswith("evaluation")}
    (overdue,) = alerts_of(in_db, carrier["id"], kind="evaluation_overdue")
    assert overdue.resolved_on == D("2021-01-21")


def test_expiry_moves_the_carrier_to_expired_through_a_milestone(
    api, admin, carrier_factory, accredit, scan_on, in_db
):
    # Provincial studios: a 3-year term, no yearly assessment.
    carrier = carrier_factory(level="provincial")
    accredit(carrier["id"], "2020-01-10")
    with in_db():
        row = Carrier.get_by_id(carrier["id"])
        for year in (2020, 2021):
            AnnualReport.create(carrier=row, year=year, metrics={}, status="accepted")
        state.refresh_dates(row)
        row.save()
    scan_on("2022-12-01")
    # Reports for 2020 and 2021 are in; 2022's is due 2023-03-31, outside the window.
    assert unresolved(in_db, carrier["id"]) == {
        ("evaluation_due", D("2023-01-10"), 40),
        ("accreditation_expiring", D("2023-01-10"), 40),
    }
    scan_on("2023-01-10")
    url = f"/api/v1/carriers/{carrier['id']}"
    assert api.get(url, token=admin).get_json()["status"] == "accredited"

    result = scan_on("2023-01-11")
    assert result.expired == [carrier["id"]]
    body = api.get(url, token=admin).get_json()
    assert body["status"] == "expired"
    assert body["open_alert_count"] == 1
    assert unresolved(in_db, carrier["id"]) == {("accreditation_expired", D("2023-01-10"), -1)}
    with in_db():
        expired = Milestone.get(
            (Milestone.carrier == carrier["id"]) & (Milestone.kind == "expired")
        )
        assert (expired.occurred_on, expired.recorded_by) == (D("2023-01-11"), "system (scan)")
        change = (
            Change.select().where(Change.action == "milestone").order_by(Change.id.desc()).get()
        )
        assert change.actor == "system (scan)"
        assert change.before["status"] == "accredited" and change.after["status"] == "expired"
    assert events(in_db, "milestone.recorded")[-1]["milestone"]["kind"] == "expired"
    assert scan_on("2023-01-12").expired == []

    # A passing term evaluation renews it: the expiry alert goes at the next scan.
    record(in_db, carrier["id"], kind="term_evaluation", occurred_on=D("2023-02-01"), result="pass")
    assert api.get(url, token=admin).get_json()["status"] == "accredited"
    result = scan_on("2023-02-02")
    assert result.resolved == {"accreditation_expired": 1}


def test_rectification_deadline_stays_due_until_completed(
    carrier_factory, accredit, scan_on, in_db
):
    carrier = carrier_factory(level="county")
    accredit(carrier["id"], "2020-01-10")
    scan_on("2021-01-05")
    record(
        in_db,
        carrier["id"],
        kind="annual_assessment",
        occurred_on=D("2021-01-08"),
        result="fail",
        rectify_by=D("2021-04-08"),
    )
    scan_on("2021-01-09")
    kinds = {k[0] for k in unresolved(in_db, carrier["id"])}
    assert "rectification_due" in kinds and "evaluation_due" not in kinds
    scan_on("2021-04-10")
    assert ("rectification_due", D("2021-04-08"), -2) in unresolved(in_db, carrier["id"])
    record(in_db, carrier["id"], kind="rectification_completed", occurred_on=D("2021-04-09"))
    scan_on("2021-04-11")
    assert "rectification_due" not in {k[0] for k in unresolved(in_db, carrier["id"])}


def test_an_alert_whose_condition_returns_is_reopened_not_duplicated(
    api, admin, carrier_factory, accredit, scan_on, in_db
):
    carrier = carrier_factory(level="provincial")
    accredit(carrier["id"], "2020-01-10")
    scan_on("2022-12-01")
    (due,) = alerts_of(in_db, carrier["id"], kind="evaluation_due")
    url = f"/api/v1/carriers/{carrier['id']}"

    def override(value):
        etag = api.get(url, token=admin).headers["ETag"]
        response = api.patch(
            url, json={"next_evaluation_on": value}, token=admin, headers={"If-Match": etag}
        )
        assert response.status_code == 200, response.get_json()

    override("2024-06-30")
    scan_on("2022-12-02")
    assert alerts_of(in_db, carrier["id"], kind="evaluation_due")[0].status == "resolved"
    override(None)
    scan_on("2022-12-03")
    (again,) = alerts_of(in_db, carrier["id"], kind="evaluation_due")
    assert (again.id, again.status, again.opened_on) == (due.id, "open", D("2022-12-03"))
    assert [e["alert"]["id"] for e in events(in_db, "alert.opened")].count(due.id) == 2


def test_closed_carriers_lose_their_alerts(carrier_factory, accredit, scan_on, in_db):
    carrier = carrier_factory(level="county")
    accredit(carrier["id"], "2020-01-10")
    scan_on("2021-01-20")
    assert unresolved(in_db, carrier["id"])
    record(in_db, carrier["id"], kind="closed", occurred_on=D("2021-01-20"))
    scan_on("2021-01-21")
    assert unresolved(in_db, carrier["id"]) == set()


def test_a_roster_alert_whose_condition_is_gone_is_resolved(carrier_factory, scan_on, in_db):
    carrier = carrier_factory()
    with in_db():
        Alert.create(
            carrier=carrier["id"],
            kind="postdoc_overstay",
            due_on=D("2021-01-01"),
            days_left=0,
            opened_on=D("2021-01-01"),
        )
    scan_on("2021-02-01")
    assert alerts_of(in_db, carrier["id"])[0].status == "resolved"


def test_batches_give_the_same_alerts(carrier_factory, accredit, scan_on, in_db):
    for index in range(5):
        carrier = carrier_factory(level="county")
        accredit(carrier["id"], D("2020-01-10") + dt.timedelta(days=index * 20))
    small = scan_on("2021-01-20", batch_size=2)
    with in_db():
        first = [(a.carrier_id, a.kind, a.due_on, a.days_left) for a in Alert.select()]
        Alert.delete().execute()
    big = scan_on("2021-01-20")
    with in_db():
        second = [(a.carrier_id, a.kind, a.due_on, a.days_left) for a in Alert.select()]
    assert sorted(first) == sorted(second)
    assert small.carriers == big.carriers == 5
    assert small.opened == big.opened


def test_scan_queries_do_not_grow_with_carriers(carrier_factory, accredit, scan_on, count_queries):
    def add(count):
        for _ in range(count):
            carrier = carrier_factory(level="county")
            accredit(carrier["id"], "2020-01-10")

    def statements_of_scan(day):
        count_queries.statements.clear()
        scan_on(day)
        return [s for s in count_queries.statements if not s.startswith(("BEGIN", "SAVEPOINT"))]

    add(3)
    scan_on("2021-01-20")
    # Next day every alert moves by one day: one UPDATE per batch, not one per alert.
    few = statements_of_scan("2021-01-21")
    add(12)
    scan_on("2021-01-22")
    many = statements_of_scan("2021-01-23")
    assert len(few) == len(many) <= 8


def test_an_expiry_the_lifecycle_refuses_is_reported_and_the_scan_goes_on(
    carrier_factory, accredit, scan_on, in_db
):
    broken = carrier_factory(level="provincial")
    fine = carrier_factory(level="provincial")
    accredit(fine["id"], "2020-01-10")
    with in_db():
        # Accredited by hand, without the milestone its history would need to replay.
        Carrier.update(status="accredited", valid_until=D("2021-01-01")).where(
            Carrier.id == broken["id"]
        ).execute()
    result = scan_on("2023-01-11")
    assert result.expiry_failures == [broken["id"]]
    assert result.expired == [fine["id"]]
    with in_db():
        assert Carrier.get_by_id(broken["id"]).status == "accredited"
        assert not Milestone.select().where(Milestone.carrier == broken["id"]).exists()


def test_progress_is_reported_per_batch(carrier_factory, scan_on):
    for _ in range(5):
        carrier_factory()
    seen = []
    scan_on("2021-01-01", batch_size=2, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 5), (4, 5), (5, 5)]
