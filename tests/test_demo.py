"""The demo fixtures: histories back to the bureau's 2019 report, annual reports whose
deadlines vary, and the reference targets with non-trivial progress."""

import datetime as dt

import pytest


@pytest.fixture
def demo(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["load-fixtures"])
    assert first.exit_code == 0, first.output
    return first.output


def test_loading_twice_creates_nothing_new(app, demo):
    assert "annual reports and 3 targets created" in demo
    again = app.test_cli_runner().invoke(args=["load-fixtures"]).output
    assert "Demo: 0 annual reports and 0 targets created." in again


def test_the_2019_target_is_reached_from_demo_reports(api, admin, demo):
    targets = {t["name"]: t for t in api.get("/api/v1/targets", token=admin).get_json()}
    assert len(targets) == 3
    reference = targets["2019年新培养高技能人才5000人以上"]
    assert reference["metric"] == "report_sum" and reference["year"] == 2019
    assert reference["progress"]["current"] >= 5000
    assert reference["progress"]["state"] == "achieved"
    reports = api.get("/api/v1/annual-reports?year=2019&page_size=100", token=admin).get_json()
    assert (
        sum(r["metrics"].get("high_skill_trained", 0) for r in reports)
        == (reference["progress"]["current"])
    )
    for name in ("五年内新增省级及以上博士后工作站3家", "宁波市级及以上技能大师工作室达到10家"):
        progress = targets[name]["progress"]
        assert 0 < progress["current"] < targets[name]["target_value"], name
        assert progress["state"] in ("on_track", "at_risk")


def test_report_deadlines_vary(app, api, admin, demo):
    from registry.clock import today

    with app.app_context():
        now = today()
    listed = api.get("/api/v1/carriers?page_size=100&status=accredited", token=admin).get_json()
    dues = [
        dt.date.fromisoformat(c["next_report_due_on"]) for c in listed if c["next_report_due_on"]
    ]
    assert any(due < now for due in dues)  # overdue
    assert any(due > now for due in dues)  # reported up to date
    returned = api.get("/api/v1/annual-reports?status=returned", token=admin).get_json()
    assert len(returned) == 1 and returned[0]["review_comment"]
    assert api.get("/api/v1/annual-reports?status=submitted", token=admin).get_json()
    assert api.get("/api/v1/annual-reports?status=accepted", token=admin).get_json()


PARKS = {
    "上林英才创业园",
    "慈溪滨海区留学人员创业园",
    "上林英才（逍林）产业园",
    "宁波环杭州湾智能产业园",
    "市大学生创业园",
}


def test_the_2019_report_as_it_was(api, demo):
    """The bureau's 2019 reply (SPEC §1): 14 studios, 2 provincial and 6 Ningbo-level (and
    6 county-level), and the five named parks, on 31 December 2019 — in the public directory."""
    stats = api.get(
        "/api/v1/stats/carriers?group_by=level&type=skill_master_studio"
        "&status=accredited&as_of=2019-12-31"
    ).get_json()
    assert stats["total"] == 14
    by_level = {group["level"]: group["count"] for group in stats["groups"]}
    assert by_level == {"provincial": 2, "municipal": 6, "county": 6}
    parks = api.get(
        "/api/v1/carriers?type=innovation_park&status=accredited&as_of=2019-12-31&page_size=100"
    ).get_json()
    assert {park["name"] for park in parks} == PARKS


def test_a_promotion_is_part_of_the_history(api, admin, demo):
    (studio,) = api.get("/api/v1/carriers?q=示例数控车工技能大师工作室", token=admin).get_json()
    assert studio["level"] == "provincial" and studio["accredited_on"] == "2014-11-20"
    then = api.get(f"/api/v1/carriers/{studio['id']}?as_of=2016-12-31", token=admin).get_json()
    assert then["level"] == "municipal" and then["status"] == "accredited"
    later = api.get(f"/api/v1/carriers/{studio['id']}?as_of=2019-12-31", token=admin).get_json()
    assert later["level"] == "provincial"
    history = api.get(f"/api/v1/carriers/{studio['id']}/milestones", token=admin).get_json()
    kinds = [m["kind"] for m in history]
    assert "level_changed" in kinds and kinds.count("term_evaluation") >= 2


def test_the_demo_opens_alive_today(app, api, admin, demo):
    """Loading ran the scan for today: open alerts, a report deadline inside each warning
    window, one overdue; the 14 studios and the five parks stay public."""
    from registry.clock import today

    with app.app_context():
        now = today()
    assert f"Scan as of {now}" in demo
    alerts = api.get("/api/v1/alerts?status=open&page_size=100", token=admin).get_json()
    assert alerts
    report_days = sorted(a["days_left"] for a in alerts if a["kind"] == "report_due")
    assert any(0 <= days <= 7 for days in report_days)
    assert any(7 < days <= 30 for days in report_days)
    assert any(30 < days <= 90 for days in report_days)
    assert any(a["kind"] == "report_overdue" for a in alerts)
    evaluation_days = [a["days_left"] for a in alerts if a["kind"] == "evaluation_due"]
    assert any(0 <= days <= 7 for days in evaluation_days)
    assert any(a["kind"] == "evaluation_overdue" for a in alerts)
    studios = api.get("/api/v1/carriers?type=skill_master_studio&page_size=100")
    assert studios.headers["X-Total-Count"] == "14"
    parks = api.get("/api/v1/carriers?type=innovation_park&page_size=100").get_json()
    assert {park["name"] for park in parks} == PARKS
    far = api.get("/api/v1/carriers?page_size=100", token=admin).get_json()
    dues = [dt.date.fromisoformat(c["next_report_due_on"]) for c in far if c["next_report_due_on"]]
    assert any(due > now + dt.timedelta(days=90) for due in dues)  # far off


@pytest.mark.parametrize("days_ago", [3, 95, 200, 330])
def test_the_windows_hold_on_any_day_of_the_year(app, api, admin, days_ago):
    """Loaded "as of" other days of the year (the demo is dated relative to its load day and
    the scan runs for that day), report deadlines fall inside each window and one is overdue,
    and 2019 still looks the same."""
    from registry.clock import today

    with app.app_context():
        day = today() - dt.timedelta(days=days_ago)
    loaded = app.test_cli_runner().invoke(args=["load-fixtures", "--as-of", day.isoformat()])
    assert loaded.exit_code == 0, loaded.output
    assert f"Scan as of {day}" in loaded.output
    alerts = api.get("/api/v1/alerts?status=open&page_size=100", token=admin).get_json()
    report_days = [a["days_left"] for a in alerts if a["kind"] == "report_due"]
    for low, high in ((0, 7), (8, 30), (31, 90)):
        assert any(low <= days <= high for days in report_days), (day, low, high, report_days)
    assert any(a["kind"] == "report_overdue" for a in alerts)
    stats = api.get(
        "/api/v1/stats/carriers?group_by=level&type=skill_master_studio&as_of=2019-12-31"
    ).get_json()
    assert stats["total"] == 14


def test_load_fixtures_refuses_a_future_day(app):
    from registry.clock import today

    with app.app_context():
        tomorrow = today() + dt.timedelta(days=1)
    result = app.test_cli_runner().invoke(args=["load-fixtures", "--as-of", tomorrow.isoformat()])
    assert result.exit_code != 0 and "after today" in result.output
