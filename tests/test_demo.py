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


def test_studios_on_the_day_of_the_2019_report(api, admin, demo):
    stats = api.get(
        "/api/v1/stats/carriers?group_by=level&type=skill_master_studio&as_of=2019-12-31",
        token=admin,
    ).get_json()
    assert stats["total"] > 0
    assert {group["level"] for group in stats["groups"]} <= {"provincial", "municipal"}
