"""Targets (SPEC §3.4): carrier_count and report_sum with live progress in every state."""

import datetime as dt

import pytest

from registry import targets
from registry.models import Change, Target

BASE = "/api/v1/targets"
D = dt.date


# --- the progress rule, as a pure function ----------------------------------------------


@pytest.mark.parametrize(
    "current,value,deadline,starts_on,today,state,expected",
    [
        # achieved whatever the date, even after the deadline
        (5000, 5000, D(2019, 12, 31), None, D(2019, 6, 1), "achieved", 2074.18),
        (5200, 5000, D(2019, 12, 31), None, D(2026, 1, 1), "achieved", 5000),
        # a deadline in the past, not reached
        (4999, 5000, D(2019, 12, 31), None, D(2020, 1, 1), "missed", 5000),
        # linear pace from 1 January of the deadline year: half-way through 2019
        (2500, 5000, D(2019, 12, 31), None, D(2019, 7, 2), "on_track", 2500),
        (2400, 5000, D(2019, 12, 31), None, D(2019, 7, 2), "at_risk", 2500),
        # on the deadline day the whole target is expected
        (4999, 5000, D(2019, 12, 31), None, D(2019, 12, 31), "at_risk", 5000),
        # before the period starts nothing is expected yet
        (0, 10, D(2026, 12, 31), D(2026, 3, 1), D(2026, 1, 15), "on_track", 0),
        # an explicit start
        (3, 10, D(2026, 12, 31), D(2021, 1, 1), D(2026, 1, 1), "at_risk", 8.34),
    ],
)
def test_progress_states(current, value, deadline, starts_on, today, state, expected):
    result = targets.progress(current, value, deadline, starts_on, today)
    assert result["state"] == state
    assert result["expected"] == pytest.approx(expected, abs=0.01)
    assert result["percent"] == round(100 * current / value, 1)


# --- over HTTP ---------------------------------------------------------------------------


def create(api, admin, **fields):
    body = {"name": "目标", "target_value": 3, "deadline": "2099-12-31", **fields}
    return api.post(BASE, json=body, token=admin)


@pytest.fixture
def registry_2019(api, admin, carrier_factory, record):
    """Studios and workstations with 2019 reports."""
    made = {
        "provincial": carrier_factory(level="provincial", tags=["汽配"]),
        "municipal": carrier_factory(level="municipal"),
        "county": carrier_factory(level="county"),
        "postdoc": carrier_factory(type="postdoc_workstation", level="national"),
        "training": carrier_factory(type="public_training_base", level="county"),
    }
    ids = {key: carrier["id"] for key, carrier in made.items()}
    record(ids["provincial"], "accredited", "2017-05-01")
    record(ids["municipal"], "accredited", "2018-05-01")
    record(ids["county"], "accredited", "2019-05-01")
    record(ids["postdoc"], "accredited", "2019-08-01")
    record(ids["training"], "accredited", "2016-01-01")
    metrics = {
        "provincial": {"high_skill_trained": 1200, "apprentices_trained": 20},
        "municipal": {"high_skill_trained": 800},
        "county": {"apprentices_trained": 5},
        "training": {"high_skill_trained": 2500, "trainees_trained": 9000},
    }
    reports = {}
    for key, values in metrics.items():
        response = api.post(
            f"/api/v1/carriers/{ids[key]}/annual-reports",
            json={"year": 2019, "metrics": values},
            token=admin,
        )
        assert response.status_code == 201, response.get_json()
        reports[key] = response.get_json()["id"]
    api.post(
        f"/api/v1/carriers/{ids['municipal']}/annual-reports",
        json={"year": 2020, "metrics": {"high_skill_trained": 999}},
        token=admin,
    )
    return {**ids, "reports": reports}


def test_report_sum_counts_submitted_and_accepted_reports_of_the_year(api, admin, registry_2019):
    response = create(
        api,
        admin,
        name="2019年新培养高技能人才5000人以上",
        metric="report_sum",
        report_metric="high_skill_trained",
        year=2019,
        target_value=5000,
        deadline="2019-12-31",
    )
    assert response.status_code == 201, response.get_json()
    target = response.get_json()
    progress = target["progress"]
    assert {key: progress[key] for key in ("current", "percent", "expected", "state")} == {
        "current": 4500,
        "percent": 90.0,
        "expected": 5000,
        "state": "missed",
    }
    assert progress["reports_counted"] == 4
    assert target["target_value"] == 5000 and target["filter"] == {}
    url = f"{BASE}/{target['id']}"
    # A returned report stops counting; an accepted one still counts.
    api.post(
        f"/api/v1/annual-reports/{registry_2019['reports']['training']}/review",
        json={"status": "returned", "review_comment": "数据有误"},
        token=admin,
    )
    api.post(
        f"/api/v1/annual-reports/{registry_2019['reports']['provincial']}/review",
        json={"status": "accepted"},
        token=admin,
    )
    assert api.get(url, token=admin).get_json()["progress"]["current"] == 2000
    studios = create(
        api,
        admin,
        metric="report_sum",
        report_metric="high_skill_trained",
        year=2019,
        target_value=2000,
        deadline="2019-12-31",
        filter={"type": "skill_master_studio", "level_min": "municipal"},
    ).get_json()
    assert studios["progress"]["current"] == 2000
    assert studios["progress"]["state"] == "achieved"  # achieved even after the deadline
    tagged = create(
        api,
        admin,
        metric="report_sum",
        report_metric="apprentices_trained",
        year=2019,
        target_value=100,
        deadline="2099-12-31",
        filter={"tag": "汽配"},
    ).get_json()
    assert tagged["progress"]["current"] == 20
    assert tagged["progress"]["state"] == "on_track"  # far deadline: little expected yet


def test_carrier_count_with_filters(api, admin, registry_2019):
    def current(filter_):
        response = create(api, admin, metric="carrier_count", filter=filter_)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["progress"]["current"]

    assert current({}) == 5
    assert current({"type": "skill_master_studio", "level_min": "municipal"}) == 2
    assert current({"type": "skill_master_studio", "level": "county"}) == 1
    assert current({"status": "accredited", "accredited_from": "2019-01-01"}) == 2
    assert current({"accredited_from": "2017-01-01", "accredited_to": "2018-12-31"}) == 2
    assert current({"level_min": "provincial", "type": "postdoc_workstation"}) == 1
    assert current({"tag": "汽配"}) == 1
    assert current({"status": "revoked"}) == 0


def test_carrier_count_states(api, admin, registry_2019):
    today = dt.date.today()
    start = today - dt.timedelta(days=100)
    deadline = today + dt.timedelta(days=100)  # half the period gone: half the target due
    common = {
        "metric": "carrier_count",
        "filter": {"type": "skill_master_studio"},
        "deadline": deadline.isoformat(),
        "starts_on": start.isoformat(),
    }
    states = {
        value: create(api, admin, target_value=value, **common).get_json()["progress"]["state"]
        for value in (3, 4, 10)
    }
    assert states == {3: "achieved", 4: "on_track", 10: "at_risk"}
    past = create(
        api,
        admin,
        metric="carrier_count",
        target_value=10,
        deadline=(today - dt.timedelta(days=2)).isoformat(),
    ).get_json()
    assert past["progress"]["state"] == "missed"
    assert past["progress"]["percent"] == 50.0


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"metric": "carrier_count", "report_metric": "high_skill_trained"}, "report_metric"),
        ({"metric": "carrier_count", "year": 2019}, "year"),
        ({"metric": "report_sum", "year": 2019}, "report_metric"),
        ({"metric": "report_sum", "report_metric": "high_skill_trained"}, "year"),
        (
            {
                "metric": "report_sum",
                "report_metric": "enterprises_incubated",
                "year": 2019,
                "filter": {"type": "skill_master_studio"},
            },
            "report_metric",
        ),
        ({"metric": "report_sum", "report_metric": "gold_bars", "year": 2019}, "report_metric"),
        ({"metric": "carrier_sum"}, "metric"),
        ({"metric": "carrier_count", "target_value": 0}, "target_value"),
        ({"metric": "carrier_count", "target_value": -5}, "target_value"),
        ({"metric": "carrier_count", "target_value": "5000"}, "target_value"),
        ({"metric": "carrier_count", "target_value": 10**30}, "target_value"),
        ({"metric": "carrier_count", "filter": {"colour": "red"}}, "filter"),
        ({"metric": "carrier_count", "filter": {"level_min": "galactic"}}, "filter"),
        ({"metric": "carrier_count", "filter": "everything"}, "filter"),
        (
            {
                "metric": "carrier_count",
                "filter": {"accredited_from": "2020-01-01", "accredited_to": "2019-01-01"},
            },
            "filter",
        ),
        ({"metric": "carrier_count", "starts_on": "2100-01-01"}, "starts_on"),
        ({"metric": "carrier_count", "deadline": "2019-02-30"}, "deadline"),
        ({"metric": "carrier_count", "name": ""}, "name"),
        ({"metric": "report_sum", "report_metric": "high_skill_trained", "year": 10**30}, "year"),
    ],
)
def test_bad_targets_are_422_and_write_nothing(api, admin, rows, fields, field):
    changes = rows(Change)
    response = create(api, admin, **fields)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert rows(Target) == 0 and rows(Change) == changes


def test_access_and_concurrency(api, admin, viewer, make_token, org_factory, rows):
    operator = make_token("operator", [org_factory()["id"]])
    partner = make_token("partner", [org_factory()["id"]])
    body = {"name": "x", "metric": "carrier_count", "target_value": 2, "deadline": "2099-12-31"}
    for token, code in ((viewer, 403), (operator, 403), (partner, 403), (None, 401)):
        assert api.post(BASE, json=body, token=token).status_code == code
    created = api.post(BASE, json=body, token=admin)
    assert created.status_code == 201
    url = created.headers["Location"]
    assert api.get(url, token=viewer).status_code == 200
    assert api.get(BASE, token=viewer).headers["X-Total-Count"] == "1"
    for token, code in ((operator, 403), (partner, 403), (None, 401)):
        assert api.get(url, token=token).status_code == code
        assert api.get(BASE, token=token).status_code == code
    etag = api.get(url, token=admin).headers["ETag"]
    assert (
        api.patch(
            url, json={"target_value": 3}, token=viewer, headers={"If-Match": etag}
        ).status_code
        == 403
    )
    assert api.patch(url, json={"target_value": 3}, token=admin).status_code == 428
    patched = api.patch(url, json={"target_value": 3}, token=admin, headers={"If-Match": etag})
    assert patched.status_code == 200 and patched.get_json()["target_value"] == 3
    assert (
        api.patch(
            url, json={"target_value": 4}, token=admin, headers={"If-Match": etag}
        ).status_code
        == 412
    )
    bad = api.patch(
        url,
        json={"year": 2019},
        token=admin,
        headers={"If-Match": patched.headers["ETag"]},
    )
    assert bad.status_code == 422  # checked on the whole target: a count takes no year
    assert api.delete(url, token=admin, headers={"If-Match": etag}).status_code == 412
    assert (
        api.delete(url, token=admin, headers={"If-Match": patched.headers["ETag"]}).status_code
        == 204
    )
    assert api.get(url, token=admin).status_code == 404
    assert [
        c
        for c in (
            rows(Change, Change.object_type == "target", Change.action == a)
            for a in ("create", "update", "delete")
        )
    ] == [1, 1, 1]


def test_patch_switches_metric_when_the_whole_target_fits(api, admin, registry_2019):
    target = create(api, admin, metric="carrier_count").get_json()
    url = f"{BASE}/{target['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    response = api.patch(
        url,
        json={"metric": "report_sum", "report_metric": "high_skill_trained", "year": 2020},
        token=admin,
        headers={"If-Match": etag},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["progress"]["current"] == 999


def test_list_filters_and_sort(api, admin, viewer):
    create(api, admin, name="乙", metric="carrier_count", deadline="2030-01-01")
    create(
        api,
        admin,
        name="甲",
        metric="report_sum",
        report_metric="high_skill_trained",
        year=2019,
        deadline="2019-12-31",
    )
    listed = api.get(BASE, token=viewer).get_json()
    assert [t["name"] for t in listed] == ["甲", "乙"]  # by deadline
    assert [
        t["name"] for t in api.get(f"{BASE}?metric=carrier_count", token=viewer).get_json()
    ] == ["乙"]
    assert [t["name"] for t in api.get(f"{BASE}?year=2019", token=viewer).get_json()] == ["甲"]
    assert [t["name"] for t in api.get(f"{BASE}?q=乙", token=viewer).get_json()] == ["乙"]
    assert api.get(f"{BASE}?metric=nope", token=viewer).status_code == 422


# --- several types; reports still to come (issue 14 item 7) --------------------------------


def test_a_carrier_count_filter_names_several_types(api, admin, carrier_factory, record):
    """'New provincial-or-higher postdoc stations' counts workstations and innovation bases."""
    station = carrier_factory(type="postdoc_workstation", level="national")
    base = carrier_factory(type="postdoc_innovation_base", level="provincial")
    studio = carrier_factory(type="skill_master_studio", level="provincial")
    for carrier in (station, base, studio):
        record(carrier["id"], "accredited", "2024-05-01")
    response = create(
        api,
        admin,
        metric="carrier_count",
        filter={
            "type": ["postdoc_workstation", "postdoc_innovation_base"],
            "level_min": "provincial",
        },
    )
    assert response.status_code == 201, response.get_json()
    target = response.get_json()
    assert target["filter"]["type"] == ["postdoc_workstation", "postdoc_innovation_base"]
    assert target["progress"]["current"] == 2
    single = create(api, admin, metric="carrier_count", filter={"type": "postdoc_workstation"})
    assert single.get_json()["progress"]["current"] == 1


@pytest.mark.parametrize(
    "value", [[], ["postdoc_workstation", "nonsense"], [1], "nonsense", {"a": 1}]
)
def test_bad_type_lists_are_422(api, admin, rows, value):
    before = rows(Target)
    response = create(api, admin, metric="carrier_count", filter={"type": value})
    assert response.status_code == 422
    assert "filter" in response.get_json()["errors"]
    assert rows(Target) == before


def test_a_report_metric_must_exist_for_every_type_named(api, admin):
    response = create(
        api,
        admin,
        metric="report_sum",
        report_metric="high_skill_trained",
        year=2025,
        filter={"type": ["skill_master_studio", "postdoc_workstation"]},
    )
    assert response.status_code == 422
    assert "postdoc_workstation" in response.get_json()["errors"]["report_metric"][0]


def test_report_sum_lists_reports_to_come_and_is_not_at_risk_before_they_are_due(
    app, api, admin, carrier_factory, record
):
    """Reports of a year arrive the next spring: until they are due the target is on track,
    whatever the pace; its progress names the reports still to come."""
    from registry.clock import today

    with app.app_context():
        now = today()
    year = now.year - 1  # its reports are due this year, after today
    due_on = min(now + dt.timedelta(days=20), dt.date(now.year, 12, 31))
    policy = api.get("/api/v1/evaluation-policies/skill_master_studio/county", token=admin)
    changed = api.patch(
        "/api/v1/evaluation-policies/skill_master_studio/county",
        json={"report_due": due_on.strftime("%m-%d")},
        token=admin,
        headers={"If-Match": policy.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.get_json()
    filed = carrier_factory(level="county")
    waiting = carrier_factory(level="county")
    for carrier in (filed, waiting):
        record(carrier["id"], "accredited", f"{year - 1}-03-01")
    submitted = api.post(
        f"/api/v1/carriers/{filed['id']}/annual-reports",
        json={"year": year, "metrics": {"high_skill_trained": 10}},
        token=admin,
    )
    assert submitted.status_code == 201, submitted.get_json()
    target = create(
        api,
        admin,
        metric="report_sum",
        report_metric="high_skill_trained",
        year=year,
        target_value=1000,
        deadline=f"{year}-12-31",
        filter={"type": ["skill_master_studio"], "level": "county"},
    ).get_json()
    progress = target["progress"]
    assert progress["current"] == 10 and progress["reports_counted"] == 1
    assert progress["state"] == "on_track"  # far behind, but the report is not due yet
    assert progress["reports_pending"] == [
        {
            "carrier_id": waiting["id"],
            "name": waiting["name"],
            "due_on": due_on.isoformat(),
            "overdue": False,
        }
    ]
    # Once its due date has passed (the deadline passed last year): missed, the report overdue.
    policy = api.get("/api/v1/evaluation-policies/skill_master_studio/county", token=admin)
    api.patch(
        "/api/v1/evaluation-policies/skill_master_studio/county",
        json={"report_due": "01-01"},
        token=admin,
        headers={"If-Match": policy.headers["ETag"]},
    )
    again = api.get(f"{BASE}/{target['id']}", token=admin).get_json()["progress"]
    if now > dt.date(now.year, 1, 1):
        assert again["state"] == "missed"
        assert again["reports_pending"][0]["overdue"] is True


def test_progress_waits_for_reports_due_later():
    waiting = targets.progress(10, 1000, D(2025, 12, 31), None, D(2026, 2, 1), D(2026, 3, 31))
    assert waiting["state"] == "on_track"
    late = targets.progress(10, 1000, D(2025, 12, 31), None, D(2026, 4, 1), D(2026, 3, 31))
    assert late["state"] == "missed"
    during = targets.progress(10, 1000, D(2025, 12, 31), None, D(2025, 7, 1), D(2026, 3, 31))
    assert during["state"] == "on_track"
