"""Annual reports: one per carrier and year, submitted by operators, reviewed by the bureau."""

import pytest

from registry.models import AnnualReport, Change, OutboxEvent

BASE = "/api/v1/annual-reports"


def reports_url(carrier_id):
    return f"/api/v1/carriers/{carrier_id}/annual-reports"


@pytest.fixture
def studio(carrier_factory, record, make_token):
    """A county studio accredited on 2022-06-01, with an operator token of its host."""
    carrier = carrier_factory(level="county")
    record(carrier["id"], "accredited", "2022-06-01")
    operator = make_token("operator", [carrier["host_organization_id"]])
    return {**carrier, "operator": operator}


def carrier_of(api, admin, carrier_id):
    return api.get(f"/api/v1/carriers/{carrier_id}", token=admin).get_json()


def submit(api, studio, year, token=None, **metrics):
    metrics = metrics or {"high_skill_trained": 12, "apprentices_trained": 4}
    return api.post(
        reports_url(studio["id"]),
        json={"year": year, "metrics": metrics},
        token=token or studio["operator"],
    )


def test_operator_submits_and_the_report_deadline_moves(api, admin, studio, rows):
    assert carrier_of(api, admin, studio["id"])["next_report_due_on"] == "2023-03-31"
    etag = api.get(f"/api/v1/carriers/{studio['id']}", token=admin).headers["ETag"]
    changes = rows(Change)
    response = submit(api, studio, 2022, high_skill_trained=12, training_hours_typo=None)
    assert response.status_code == 422  # None is not a number; nothing written
    response = submit(api, studio, 2022, high_skill_trained=12, apprentices_trained=4)
    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert report["carrier_id"] == studio["id"] and report["year"] == 2022
    assert report["metrics"] == {"high_skill_trained": 12, "apprentices_trained": 4}
    assert report["status"] == "submitted" and report["submitted_at"].endswith("+08:00")
    assert response.headers["Location"] == f"{BASE}/{report['id']}"
    assert carrier_of(api, admin, studio["id"])["next_report_due_on"] == "2024-03-31"
    assert api.get(f"/api/v1/carriers/{studio['id']}", token=admin).headers["ETag"] != etag
    assert rows(Change) == changes + 1
    assert rows(Change, Change.object_type == "annual_report", Change.action == "create") == 1
    assert rows(OutboxEvent, OutboxEvent.type == "report.submitted") == 1


def test_one_report_per_carrier_and_year(api, admin, studio, rows):
    assert submit(api, studio, 2023).status_code == 201
    changes = rows(Change)
    second = submit(api, studio, 2023, token=admin)
    assert second.status_code == 409
    assert "already has an annual report for 2023" in second.get_json()["detail"]
    assert rows(AnnualReport) == 1 and rows(Change) == changes


@pytest.mark.parametrize(
    "year,message",
    [(2021, "was accredited on 2022-06-01"), (2999, "is in the future")],
)
def test_year_before_accreditation_or_in_the_future_is_422(api, studio, rows, year, message):
    response = submit(api, studio, year)
    assert response.status_code == 422
    assert message in response.get_json()["errors"]["year"][0]
    assert rows(AnnualReport) == 0


def test_the_first_accreditation_counts_for_the_year(api, admin, studio, record):
    record(studio["id"], "term_evaluation", "2024-01-10", result="fail")
    record(studio["id"], "revoked", "2024-06-10")
    record(studio["id"], "application_submitted", "2024-07-10")
    record(studio["id"], "accredited", "2024-12-10")
    assert submit(api, studio, 2022).status_code == 201


def test_never_accredited_carrier_has_no_report(api, admin, carrier_factory):
    carrier = carrier_factory()
    response = api.post(
        reports_url(carrier["id"]),
        json={"year": 2024, "metrics": {"trainees_trained": 1}},
        token=admin,
    )
    assert response.status_code == 422
    assert "never been accredited" in response.get_json()["errors"]["year"][0]


@pytest.mark.parametrize(
    "metrics",
    [
        {"enterprises_incubated": 3},  # a park's metric, not a studio's
        {"high_skill_trained": -1},
        {"high_skill_trained": True},
        {"high_skill_trained": "12"},
        {"high_skill_trained": 10**30},
        {"high_skill_trained": None},
        {},
        [1, 2],
        "many",
    ],
)
def test_bad_metrics_are_422(api, studio, rows, metrics):
    response = api.post(
        reports_url(studio["id"]), json={"year": 2023, "metrics": metrics}, token=studio["operator"]
    )
    assert response.status_code == 422
    assert "metrics" in response.get_json()["errors"]
    assert rows(AnnualReport) == 0


@pytest.mark.parametrize("year", ["2023", 2023.5, None, 10**30, 1800])
def test_bad_years_are_422(api, studio, year):
    response = api.post(
        reports_url(studio["id"]),
        json={"year": year, "metrics": {"high_skill_trained": 1}},
        token=studio["operator"],
    )
    assert response.status_code == 422
    assert "year" in response.get_json()["errors"]


def test_who_may_submit(api, admin, viewer, make_token, studio, org_factory, carrier_factory):
    stranger = make_token("operator", [org_factory()["id"]])
    partner = make_token("partner", [studio["host_organization_id"]])
    assert submit(api, studio, 2022, token=viewer).status_code == 403
    assert submit(api, studio, 2022, token=stranger).status_code == 403  # public carrier
    assert submit(api, studio, 2022, token=partner).status_code == 403
    assert (
        api.post(reports_url(studio["id"]), json={"year": 2022, "metrics": {}}).status_code == 401
    )
    hidden = carrier_factory()
    body = {"year": 2022, "metrics": {"trainees_trained": 1}}
    assert api.post(reports_url(hidden["id"]), json=body, token=stranger).status_code == 404
    assert submit(api, studio, 2022, token=admin).status_code == 201


def review(api, token, report_id, status, comment=None):
    body = {"status": status, "review_comment": comment}
    return api.post(f"{BASE}/{report_id}/review", json=body, token=token)


def test_review_accept_and_second_review(api, admin, viewer, studio, rows):
    report = submit(api, studio, 2022).get_json()
    assert review(api, viewer, report["id"], "accepted").status_code == 403
    assert review(api, studio["operator"], report["id"], "accepted").status_code == 403
    assert review(api, admin, report["id"], "rejected").status_code == 422
    changes = rows(Change)
    accepted = review(api, admin, report["id"], "accepted", "数据完整")
    assert accepted.status_code == 200
    assert accepted.get_json()["status"] == "accepted"
    assert accepted.get_json()["review_comment"] == "数据完整"
    assert accepted.get_json()["reviewed_at"]
    assert rows(Change, Change.action == "review") == 1 and rows(Change) == changes + 1
    assert review(api, admin, report["id"], "returned", "x").status_code == 409
    etag = api.get(f"{BASE}/{report['id']}", token=admin).headers["ETag"]
    final = api.patch(
        f"{BASE}/{report['id']}",
        json={"metrics": {"high_skill_trained": 1}},
        token=studio["operator"],
        headers={"If-Match": etag},
    )
    assert final.status_code == 409


def test_returned_report_is_due_again_until_resubmitted(api, admin, studio):
    report = submit(api, studio, 2022).get_json()
    assert carrier_of(api, admin, studio["id"])["next_report_due_on"] == "2024-03-31"
    assert review(api, admin, report["id"], "returned").status_code == 422  # needs a comment
    assert review(api, admin, report["id"], "returned", "   ").status_code == 422
    returned = review(api, admin, report["id"], "returned", "请补充带徒人数")
    assert returned.get_json()["status"] == "returned"
    assert carrier_of(api, admin, studio["id"])["next_report_due_on"] == "2023-03-31"
    again = submit(api, studio, 2022)
    assert again.status_code == 409
    assert f"PATCH /api/v1/annual-reports/{report['id']}" in again.get_json()["detail"]
    url = f"{BASE}/{report['id']}"
    etag = api.get(url, token=studio["operator"]).headers["ETag"]
    body = {"metrics": {"high_skill_trained": 12, "apprentices_trained": 6}}
    assert api.patch(url, json=body, token=studio["operator"]).status_code == 428
    resubmitted = api.patch(url, json=body, token=studio["operator"], headers={"If-Match": etag})
    assert resubmitted.status_code == 200, resubmitted.get_json()
    data = resubmitted.get_json()
    assert data["status"] == "submitted" and data["review_comment"] is None
    assert data["metrics"]["apprentices_trained"] == 6
    assert carrier_of(api, admin, studio["id"])["next_report_due_on"] == "2024-03-31"
    stale = api.patch(url, json=body, token=studio["operator"], headers={"If-Match": etag})
    assert stale.status_code == 412
    bad = api.patch(
        url,
        json={"metrics": {"nope": 1}},
        token=studio["operator"],
        headers={"If-Match": resubmitted.headers["ETag"]},
    )
    assert bad.status_code == 422


def test_lists_and_read_scope(api, admin, viewer, make_token, carrier_factory, record, org_factory):
    studio = carrier_factory(level="municipal")
    park = carrier_factory(type="innovation_park", level="county")
    for carrier in (studio, park):
        record(carrier["id"], "accredited", "2020-01-10")
    for year in (2020, 2021, 2022):
        api.post(
            reports_url(studio["id"]),
            json={"year": year, "metrics": {"high_skill_trained": year - 2000}},
            token=admin,
        )
    api.post(
        reports_url(park["id"]),
        json={"year": 2021, "metrics": {"enterprises_incubated": 9}},
        token=admin,
    )
    everything = api.get(BASE, token=viewer)
    assert everything.headers["X-Total-Count"] == "4"
    assert [r["year"] for r in everything.get_json()] == [2022, 2021, 2021, 2020]
    assert len(api.get(f"{BASE}?year=2021", token=viewer).get_json()) == 2
    assert len(api.get(f"{BASE}?type=innovation_park", token=viewer).get_json()) == 1
    assert (
        len(api.get(f"{BASE}?carrier_id={studio['id']}&status=submitted", token=viewer).get_json())
        == 3
    )
    assert api.get(f"{BASE}?status=lost", token=viewer).status_code == 422
    assert [r["year"] for r in api.get(f"{BASE}?sort=year", token=viewer).get_json()][0] == 2020
    own = make_token("operator", [park["host_organization_id"]])
    mine = api.get(BASE, token=own).get_json()
    assert [r["carrier_id"] for r in mine] == [park["id"]]
    studio_reports = api.get(reports_url(studio["id"]), token=viewer).get_json()
    assert [r["year"] for r in studio_reports] == [2022, 2021, 2020]
    assert api.get(reports_url(studio["id"]), token=own).status_code == 403
    assert api.get(f"{BASE}/{studio_reports[0]['id']}", token=own).status_code == 404
    assert api.get(BASE).status_code == 401
    assert api.get(f"{BASE}/{studio_reports[0]['id']}", token=viewer).status_code == 200


def test_migration_3_upgrades_a_database_made_before_it(tmp_path):
    """A database without step 3 gets the review columns and targets, and its carriers are
    replayed under the corrected rules (the old code stored the policy's validity as if a
    milestone had stated it).

    The database is made current, then step 3's changes are taken out again: the rows below
    are written with today's models, which later steps have given more columns."""
    import datetime as dt

    from playhouse.migrate import SchemaMigrator, migrate

    from fixtures import loader
    from registry import create_app, db, milestones, schema
    from registry.models import Carrier, Milestone, Organization

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'old.db'}", "TESTING": True})
    with app.app_context(), db.database.connection_context():
        schema.upgrade()
        migrator = SchemaMigrator.from_database(db.database.obj)
        migrate(
            migrator.drop_column("annual_report", "reviewed_at"),
            migrator.drop_column("annual_report", "reviewed_by"),
        )
        db.database.execute_sql('DROP TABLE "target"')
        schema.SchemaVersion.delete().where(schema.SchemaVersion.version == 3).execute()
        loader.load_policies()
        host = Organization.create(name="旧宿主", kind="enterprise")
        old = Carrier.create(
            name="旧载体",
            type="skill_master_studio",
            level="municipal",
            status="accredited",
            host_organization=host,
            initial_level="municipal",
            accredited_on=dt.date(2020, 1, 1),
            cycle_start=dt.date(2020, 1, 1),
            milestone_valid_until=dt.date(2023, 1, 1),
            valid_until=dt.date(2023, 1, 1),
        )
        Milestone.create(carrier=old, kind="accredited", occurred_on=dt.date(2020, 1, 1))
        applied = schema.upgrade()
        assert 3 in applied and schema.needs_rebuild(applied)
        milestones.rebuild_all()  # what `registry init-db` does after such a step
        old = Carrier.get_by_id(old.id)
        assert old.milestone_valid_until is None and old.valid_until == dt.date(2023, 1, 1)
        assert old.next_report_due_on == dt.date(2021, 3, 31)
        columns = {column.name for column in db.database.get_columns("annual_report")}
        assert {"reviewed_at", "reviewed_by"} <= columns
        assert "target" in db.database.get_tables()
        assert schema.upgrade() == []
