"""/jobs, the run log, /readyz's scan freshness and `registry scan`."""

import datetime as dt

import pytest

from jobs import catalog, runs
from registry import db
from registry.db import utcnow
from registry.models import Alert, JobRun
from registry.schema import SchemaVersion


def test_jobs_list_says_schedule_next_and_last_run(api, viewer):
    response = api.get("/api/v1/jobs", token=viewer)
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "3"
    jobs = {job["id"]: job for job in response.get_json()}
    assert set(jobs) == {"scan", "digest", "deliver"}
    scan = jobs["scan"]
    assert scan["schedule"] == "cron 0 8 * * * (Asia/Shanghai)"
    assert scan["next_run_at"].endswith("T08:00:00+08:00")
    assert scan["last_run"] is None and scan["last_success_at"] is None
    assert jobs["digest"]["schedule"] == "cron 0 9 * * mon (Asia/Shanghai)"
    assert jobs["deliver"]["schedule"] == "every 30 s"


@pytest.mark.parametrize("role", ["operator", "partner"])
def test_jobs_are_for_the_bureau(api, make_token, org_factory, role):
    token = make_token(role, [org_factory()["id"]])
    assert api.get("/api/v1/jobs", token=token).status_code == 403
    assert api.get("/api/v1/jobs").status_code == 401
    assert api.post("/api/v1/jobs/scan/run", token=token).status_code == 403


def test_admin_runs_the_scan_now_and_the_run_is_logged(
    api, admin, viewer, carrier_factory, accredit
):
    carrier = carrier_factory(level="county")
    accredit(carrier["id"], dt.date.today() - dt.timedelta(days=400))
    assert api.post("/api/v1/jobs/scan/run", token=viewer).status_code == 403
    response = api.post("/api/v1/jobs/scan/run", token=admin)
    assert response.status_code == 200, response.get_json()
    run = response.get_json()
    assert (run["job"], run["trigger"], run["outcome"]) == ("scan", "manual", "succeeded")
    assert run["actor"] == "bureau admin"
    assert run["counts"]["carriers"] == 1 and run["counts"]["opened"] >= 1
    assert run["started_at"] and run["finished_at"] and run["error"] is None

    scan = next(j for j in api.get("/api/v1/jobs", token=viewer).get_json() if j["id"] == "scan")
    assert scan["last_run"]["id"] == run["id"]
    assert scan["last_success_at"] == run["finished_at"]
    log = api.get("/api/v1/jobs/scan/runs", token=viewer)
    assert log.headers["X-Total-Count"] == "1"
    assert log.get_json()[0]["id"] == run["id"]
    assert api.get("/api/v1/jobs/scan/runs?outcome=failed", token=viewer).get_json() == []
    alerts = api.get(f"/api/v1/alerts?carrier_id={carrier['id']}", token=admin).get_json()
    assert alerts


def test_a_failing_job_is_logged_as_failed(api, admin, monkeypatch):
    def broken():
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(
        catalog, "JOBS", [catalog.Job("scan", "broken scan", broken, catalog.Cron("SCAN_CRON"))]
    )
    response = api.post("/api/v1/jobs/scan/run", token=admin)
    assert response.status_code == 200
    run = response.get_json()
    assert run["outcome"] == "failed"
    assert run["error"] == "RuntimeError: the disk is full"
    assert run["counts"] is None


def test_unknown_job_is_404(api, admin):
    response = api.post("/api/v1/jobs/nothing/run", token=admin)
    assert response.status_code == 404
    assert "scan" in response.get_json()["detail"]
    assert api.get("/api/v1/jobs/nothing/runs", token=admin).status_code == 404


def test_bad_run_log_filter_is_422(api, admin):
    assert api.get("/api/v1/jobs/scan/runs?outcome=maybe", token=admin).status_code == 422


def test_digest_emits_the_weeks_new_and_open_alerts(
    app, api, admin, carrier_factory, accredit, scan_on, in_db
):
    from jobs import digest
    from registry.models import OutboxEvent

    carrier = carrier_factory(level="county")
    accredit(carrier["id"], "2020-01-10")
    scan_on("2021-01-20")  # evaluation overdue, report due
    scan_on("2021-04-02")  # report overdue; report due resolved
    with in_db():
        counts = digest.digest(dt.date(2021, 4, 4))
        event = OutboxEvent.get(OutboxEvent.type == "digest.weekly")
    assert counts == {"as_of": "2021-04-04", "new": 1, "open": 2}
    data = event.data
    assert (data["week_start"], data["week_end"]) == ("2021-03-29", "2021-04-04")
    assert data["new"]["by_kind"] == {"report_overdue": 1}
    assert data["open"]["by_kind"] == {"evaluation_overdue": 1, "report_overdue": 1}
    assert data["open"]["alerts"][0]["carrier"]["name"] == carrier["name"]
    assert data["open"]["truncated"] is False


# --- /readyz --------------------------------------------------------------------------


def add_scan_run(app, finished_ago: dt.timedelta, as_of=None, outcome="succeeded"):
    with app.app_context(), db.database.connection_context():
        started = utcnow() - finished_ago - dt.timedelta(seconds=5)
        JobRun.create(
            job="scan",
            trigger="schedule",
            actor="tests",
            as_of=as_of or runs.local_date(started),
            started_at=started,
            finished_at=started + dt.timedelta(seconds=5),
            outcome=outcome,
        )


def test_readyz_is_ready_on_a_new_database_before_the_first_scan(api):
    response = api.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["last_scan_at"] is None and body["max_scan_age_hours"] == 48


def test_readyz_reports_the_last_scan_and_turns_unready_when_it_is_old(app, api):
    add_scan_run(app, dt.timedelta(hours=3))
    body = api.get("/readyz").get_json()
    assert body["status"] == "ready" and 2.9 < body["last_scan_age_hours"] < 3.1
    with app.app_context(), db.database.connection_context():
        JobRun.delete().execute()
    add_scan_run(app, dt.timedelta(hours=50))
    add_scan_run(app, dt.timedelta(hours=1), outcome="failed")
    add_scan_run(app, dt.timedelta(hours=1), as_of=dt.date(2020, 1, 1))  # a back-fill
    response = api.get("/readyz")
    assert response.status_code == 503
    assert "stale" in response.get_json()["scan"]
    app.config["READY_MAX_SCAN_AGE_HOURS"] = 0
    assert api.get("/readyz").status_code == 200


def test_readyz_unready_when_no_scan_ever_ran_on_an_old_run_log(app, api):
    with app.app_context(), db.database.connection_context():
        step = SchemaVersion.get(SchemaVersion.version == runs.RUN_LOG_VERSION)
        applied_at = step.applied_at
        SchemaVersion.update(applied_at=utcnow() - dt.timedelta(hours=49)).where(
            SchemaVersion.version == runs.RUN_LOG_VERSION
        ).execute()
    try:
        assert api.get("/readyz").status_code == 503
    finally:
        with app.app_context(), db.database.connection_context():
            SchemaVersion.update(applied_at=applied_at).where(
                SchemaVersion.version == runs.RUN_LOG_VERSION
            ).execute()


# --- registry scan ----------------------------------------------------------------------


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_cli_scan_as_of_prints_what_it_did(app, carrier_factory, accredit, in_db):
    carrier = carrier_factory(level="provincial")
    accredit(carrier["id"], "2020-01-10")
    result = invoke(app, "scan", "--as-of", "2023-01-11")
    assert result.exit_code == 0, result.output
    assert "Scan as of 2023-01-11: 1 carriers" in result.output
    # Reports are owed while accredited: the expired carrier's report alerts are gone.
    assert "Opened 1 alerts: accreditation_expired 1." in result.output
    assert f"Status changes: 1 carriers expired ({carrier['id']})." in result.output
    again = invoke(app, "scan", "--as-of", "2023-01-11")
    assert "Opened 0 alerts." in again.output and "0 carriers expired" in again.output
    with in_db():
        assert Alert.select().count() == 1
        run = JobRun.select().order_by(JobRun.id.desc()).get()
        assert (run.trigger, run.as_of, run.outcome) == ("cli", dt.date(2023, 1, 11), "succeeded")


@pytest.mark.parametrize("value", ["2023-02-30", "tomorrow", "2999-01-01"])
def test_cli_scan_refuses_bad_and_future_dates(app, value, in_db):
    result = invoke(app, "scan", "--as-of", value)
    assert result.exit_code == 2
    with in_db():
        assert JobRun.select().count() == 0


def test_admin_runs_the_webhook_delivery_now(api, admin):
    response = api.post("/api/v1/jobs/deliver/run", token=admin)
    assert response.status_code == 200, response.get_json()
    run = response.get_json()
    assert run["job"] == "deliver" and run["outcome"] == "succeeded", run
