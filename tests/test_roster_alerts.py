"""Roster alerts (SPEC §3.3 postdoc_overstay, no_postdoc_recruited, incubation_overdue) walked
through their windows by ``registry scan --as-of``; their deadlines in /deadlines and the
calendar; the rules themselves on plain data."""

import datetime as dt
from types import SimpleNamespace

import pytest

from registry import roster_rules
from registry.models import Alert

D = dt.date.fromisoformat
ROSTER_KINDS = set(roster_rules.ROSTER_ALERT_KINDS)


def scan(app, day: str) -> str:
    result = app.test_cli_runner().invoke(args=["scan", "--as-of", day])
    assert result.exit_code == 0, result.output
    return result.output


def roster_alerts(in_db, carrier_id):
    """{(kind, due_on, days_left, status)} of the carrier's roster alerts."""
    with in_db():
        query = Alert.select().where(
            (Alert.carrier == carrier_id) & Alert.kind.in_(sorted(ROSTER_KINDS))
        )
        return {(a.kind, a.due_on.isoformat(), a.days_left, a.status) for a in query}


def add(api, token, carrier_id, **body):
    response = api.post(f"/api/v1/carriers/{carrier_id}/members", json=body, token=token)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def edit(api, token, carrier_id, member_id, body):
    path = f"/api/v1/carriers/{carrier_id}/members/{member_id}"
    etag = api.get(path, token=token).headers["ETag"]
    response = api.patch(path, json=body, token=token, headers={"If-Match": etag})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def accredited(carrier_factory, accredit):
    def make(carrier_type, on, level="provincial"):
        carrier = carrier_factory(type=carrier_type, level=level)
        accredit(carrier["id"], on)
        return carrier

    return make


def test_postdoc_overstay_walked_through_its_window(app, api, admin, accredited, in_db):
    station = accredited("postdoc_workstation", "2020-03-01")
    member = add(api, admin, station["id"], role="postdoc", name="张三", started_on="2021-01-01")
    assert member["planned_end_on"] == "2023-01-01"
    # Before the 90-day window: nothing (the station recruited, so no recruitment alert).
    scan(app, "2022-10-02")
    assert roster_alerts(in_db, station["id"]) == set()
    # Inside the window: open, counting down.
    scan(app, "2022-10-03")
    assert roster_alerts(in_db, station["id"]) == {("postdoc_overstay", "2023-01-01", 90, "open")}
    # Past the planned 出站: still open, negative days; the same alert, not a new one.
    scan(app, "2023-02-01")
    scan(app, "2023-02-01")
    assert roster_alerts(in_db, station["id"]) == {("postdoc_overstay", "2023-01-01", -31, "open")}
    # 出站 recorded: the next scan resolves it.
    edit(
        api, admin, station["id"], member["id"], {"ended_on": "2023-03-01", "outcome": "completed"}
    )
    scan(app, "2023-03-02")
    assert roster_alerts(in_db, station["id"]) == {
        ("postdoc_overstay", "2023-01-01", -31, "resolved")
    }


def test_extension_moves_the_overstay_alert(app, api, admin, accredited, in_db):
    station = accredited("postdoc_workstation", "2020-03-01")
    member = add(api, admin, station["id"], role="postdoc", name="张三", started_on="2021-01-01")
    scan(app, "2022-12-01")
    edit(api, admin, station["id"], member["id"], {"planned_end_on": "2023-12-31"})
    scan(app, "2022-12-02")
    assert roster_alerts(in_db, station["id"]) == {
        ("postdoc_overstay", "2023-01-01", 31, "resolved")
    }
    scan(app, "2023-10-02")
    assert ("postdoc_overstay", "2023-12-31", 90, "open") in roster_alerts(in_db, station["id"])


def test_no_postdoc_recruited_walked_through_its_window(app, api, admin, accredited, in_db):
    station = accredited("postdoc_innovation_base", "2020-03-01")
    scan(app, "2021-11-30")
    assert roster_alerts(in_db, station["id"]) == set()
    scan(app, "2021-12-01")  # 2022-03-01 is 90 days away
    assert roster_alerts(in_db, station["id"]) == {
        ("no_postdoc_recruited", "2022-03-01", 90, "open")
    }
    scan(app, "2022-04-01")
    assert roster_alerts(in_db, station["id"]) == {
        ("no_postdoc_recruited", "2022-03-01", -31, "open")
    }
    add(api, admin, station["id"], role="postdoc", name="李四", started_on="2022-05-01")
    # A scan of a day before the postdoc came still wants the alert…
    scan(app, "2022-04-30")
    assert {a[3] for a in roster_alerts(in_db, station["id"])} == {"open"}
    # …and once the postdoc is in station, it is resolved.
    scan(app, "2022-05-01")
    assert roster_alerts(in_db, station["id"]) == {
        ("no_postdoc_recruited", "2022-03-01", -60, "resolved")
    }


def test_recruitment_period_is_configurable_per_policy(app, api, admin, accredited, in_db):
    from registry.models import EvaluationPolicy

    with in_db():
        EvaluationPolicy.update(roster_rules={"recruit_within_years": 1}).where(
            (EvaluationPolicy.type == "postdoc_workstation")
            & (EvaluationPolicy.level == "provincial")
        ).execute()
    station = accredited("postdoc_workstation", "2020-03-01")
    scan(app, "2021-03-02")
    assert roster_alerts(in_db, station["id"]) == {
        ("no_postdoc_recruited", "2021-03-01", -1, "open")
    }


def test_incubation_overdue_walked_through_its_window(
    app, api, admin, accredited, org_factory, in_db
):
    park = accredited("innovation_park", "2019-01-01", level="municipal")
    org = org_factory(name="慈溪某电子有限公司")
    member = add(
        api,
        admin,
        park["id"],
        role="resident_enterprise",
        organization_id=org["id"],
        started_on="2020-01-01",
    )
    scan(app, "2022-10-02")  # due 2023-01-01 (3 years): 91 days away
    assert roster_alerts(in_db, park["id"]) == set()
    scan(app, "2022-10-03")
    assert roster_alerts(in_db, park["id"]) == {("incubation_overdue", "2023-01-01", 90, "open")}
    scan(app, "2023-06-01")
    assert roster_alerts(in_db, park["id"]) == {("incubation_overdue", "2023-01-01", -151, "open")}
    edit(api, admin, park["id"], member["id"], {"ended_on": "2023-06-30", "outcome": "graduated"})
    scan(app, "2023-07-01")
    assert roster_alerts(in_db, park["id"]) == {
        ("incubation_overdue", "2023-01-01", -151, "resolved")
    }


def test_carriers_not_holding_an_accreditation_get_no_roster_alerts(
    app, api, admin, carrier_factory, in_db
):
    station = carrier_factory(type="postdoc_workstation", level="provincial")  # applying
    add(api, admin, station["id"], role="postdoc", name="张三", started_on="2021-01-01")
    scan(app, "2023-06-01")
    assert roster_alerts(in_db, station["id"]) == set()


def test_roster_deadlines_in_deadlines_and_the_calendar(api, admin, accredited, org_factory):
    today = dt.date.today()
    station = accredited("postdoc_workstation", (today - dt.timedelta(days=400)).isoformat())
    started = today - dt.timedelta(days=700)
    member = add(
        api, admin, station["id"], role="postdoc", name="张三", started_on=started.isoformat()
    )
    response = api.get("/api/v1/deadlines?within=365&kind=postdoc_stay", token=admin)
    assert response.status_code == 200, response.get_json()
    found = [d for d in response.get_json() if d["carrier_id"] == station["id"]]
    assert [(d["kind"], d["due_on"]) for d in found] == [("postdoc_stay", member["planned_end_on"])]
    assert found[0]["label"] == "博士后计划出站"
    ics = api.get("/api/v1/calendar.ics?within=365", token=admin).get_data(as_text=True)
    assert "博士后计划出站" in ics
    # A station without postdocs: its recruitment deadline.
    empty = accredited("postdoc_workstation", (today - dt.timedelta(days=400)).isoformat())
    listed = api.get("/api/v1/deadlines?within=3660&kind=postdoc_recruitment", token=admin)
    assert [d["carrier_id"] for d in listed.get_json()] == [empty["id"]]


# --- the rules on plain data -------------------------------------------------------------


def entry(role, started, ended=None, planned=None, outcome=None):
    return SimpleNamespace(
        role=role,
        started_on=D(started) if started else None,
        ended_on=D(ended) if ended else None,
        planned_end_on=D(planned) if planned else None,
        outcome=outcome,
        size=None,
    )


def carrier(carrier_type, accredited_on="2020-01-01", status="accredited"):
    return SimpleNamespace(type=carrier_type, status=status, accredited_on=D(accredited_on))


def test_rule_table_two_postdocs_due_the_same_day_are_one_deadline():
    found = roster_rules.roster_deadlines(
        carrier("postdoc_workstation"),
        [entry("postdoc", "2021-01-01", planned="2023-01-01")] * 2,
        roster_rules.RosterPolicy(),
        D("2022-01-01"),
    )
    assert [(rule.kind, due) for rule, due in found] == [("postdoc_overstay", D("2023-01-01"))]


def test_rule_table_a_postdoc_who_left_before_accreditation_is_no_recruit():
    found = roster_rules.roster_deadlines(
        carrier("postdoc_workstation", "2020-06-01"),
        [entry("postdoc", "2018-01-01", ended="2020-01-01", outcome="completed")],
        roster_rules.RosterPolicy(),
        D("2021-01-01"),
    )
    assert [(rule.kind, due) for rule, due in found] == [("no_postdoc_recruited", D("2022-06-01"))]
