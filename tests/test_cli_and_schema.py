"""The registry command: schema migrations, fixtures and tokens."""

import re

from click.testing import CliRunner

from registry import create_app, db, schema
from registry.cli import main


def invoke(app, *args):
    runner = app.test_cli_runner()
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_init_db_is_idempotent(app):
    assert "already at version" in invoke(app, "init-db")
    assert "already at version" in invoke(app, "init-db")


def test_init_db_upgrades_an_empty_database(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}", "TESTING": True})
    output = invoke(app, "init-db")
    assert re.search(r"Applied migrations 1.*version \d+", output)
    with app.app_context(), db.database.connection_context():
        assert schema.is_current()


def test_load_fixtures_is_idempotent_and_reproduces_the_reference_stats(app, api, admin):
    first = invoke(app, "load-fixtures")
    assert "carriers created" in first
    second = invoke(app, "load-fixtures")
    assert "0 organisations and 0 carriers created" in second
    stats = api.get(
        "/api/v1/stats/carriers?group_by=level&type=skill_master_studio", token=admin
    ).get_json()
    assert stats == {
        "total": 14,
        "groups": [
            {"level": "provincial", "count": 2},
            {"level": "municipal", "count": 6},
            {"level": "county", "count": 6},
        ],
    }
    parks = {
        c["name"] for c in api.get("/api/v1/carriers?type=innovation_park", token=admin).get_json()
    }
    assert parks == {
        "上林英才创业园",
        "慈溪滨海区留学人员创业园",
        "上林英才（逍林）产业园",
        "宁波环杭州湾智能产业园",
        "市大学生创业园",
    }
    joint = api.get("/api/v1/carriers?type=joint_training_base", token=admin).get_json()
    assert any(p["name"] == "宁波大学科学技术学院" for p in joint[0]["partners"])


def test_demo_dates_fall_inside_and_outside_the_windows(app, api, admin):
    import datetime as dt

    from registry.clock import today

    invoke(app, "load-fixtures")
    with app.app_context():
        now = today()
    dates = [
        dt.date.fromisoformat(c["next_evaluation_on"])
        for c in api.get("/api/v1/carriers?page_size=100&status=accredited", token=admin).get_json()
        if c["next_evaluation_on"]
    ]
    left = [(day - now).days for day in dates]
    assert any(d < 0 for d in left)
    assert any(0 <= d <= 7 for d in left)
    assert any(7 < d <= 30 for d in left)
    assert any(30 < d <= 90 for d in left)
    assert any(d > 90 for d in left)


def test_create_token_prints_token_alone_on_last_line(app, api, org_factory):
    org = org_factory()
    output = invoke(
        app,
        "create-token",
        "--role",
        "operator",
        "--organization",
        str(org["id"]),
        "--name",
        "周巷园区运营",
    )
    lines = output.strip().splitlines()
    assert lines[0] == (
        f"Token for 周巷园区运营 (operator, organisations {org['id']}). Shown once; store it now."
    )
    me = api.get("/api/v1/carriers", token=lines[-1])
    assert me.status_code == 200


def test_create_token_refuses_operator_without_organisation(app):
    result = app.test_cli_runner().invoke(
        args=["create-token", "--role", "operator", "--name", "x"]
    )
    assert result.exit_code != 0
    assert "organisation" in result.output


def test_registry_console_script_lists_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "init-db", "load-fixtures", "create-token"):
        assert command in result.output


def test_demo_survives_its_first_scan_with_overdue_evaluations(app, api, admin, scan_on):
    from registry.clock import today

    output = invoke(app, "load-fixtures")
    with app.app_context():
        day = today()
    # load-fixtures ran the first scan: a demo carrier lapses, as the demo means it to
    assert re.search(r"Status changes: [1-9]\d* carriers? expired", output), output
    result = scan_on(day)
    assert not result.expired and not result.opened  # scanning the same day again: nothing
    studios = api.get("/api/v1/carriers?type=skill_master_studio&page_size=100")
    assert studios.headers["X-Total-Count"] == "14"  # the public directory still lists all 14
    overdue = api.get("/api/v1/alerts?kind=evaluation_overdue&status=open", token=admin)
    assert int(overdue.headers["X-Total-Count"]) >= 2
