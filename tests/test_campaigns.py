"""Evaluation campaigns (SPEC §3.1): rounds announced by notice open evaluation alerts for
every carrier they cover, walked through their windows with ``registry scan --as-of``;
national postdoctoral workstations never lapse by the calendar."""

import datetime as dt

import pytest

from registry.models import Alert, Carrier, Change, EvaluationCampaign

D = dt.date.fromisoformat

CAMPAIGN = {
    "name": "2025年度博士后科研工作站综合评估",
    "document_ref": "人社厅发〔2025〕12号",
    "types": ["postdoc_workstation"],
    "levels": ["national"],
    "accredited_before": "2020-01-01",
    "opened_on": "2025-03-01",
    "materials_due_on": "2025-06-30",
    "evaluation_on": "2025-09-15",
}


def scan_cli(app, day: str) -> str:
    result = app.test_cli_runner().invoke(args=["scan", "--as-of", day])
    assert result.exit_code == 0, result.output
    return result.output


def unresolved(in_db, carrier_id):
    """The carrier's unresolved alerts, annual-report ones left out (no reports are filed
    in these tests)."""
    with in_db():
        return {
            (a.kind, a.due_on.isoformat(), a.days_left)
            for a in Alert.select().where(
                (Alert.carrier == carrier_id)
                & (Alert.status != "resolved")
                & Alert.kind.not_in(["report_due", "report_overdue"])
            )
        }


def statuses(in_db, carrier_id):
    with in_db():
        return {
            (a.kind, a.due_on.isoformat()): a.status
            for a in Alert.select().where(Alert.carrier == carrier_id)
        }


@pytest.fixture
def station(carrier_factory, accredit):
    """A national postdoctoral workstation accredited in 2010 (covered by CAMPAIGN)."""
    carrier = carrier_factory(type="postdoc_workstation", level="national")
    accredit(carrier["id"], "2010-06-01", level="national")
    return carrier["id"]


def test_campaign_walked_through_its_windows_with_the_scan_cli(
    app, api, admin, station, carrier_factory, accredit, in_db
):
    # Not covered: accredited after the cut-off, another type, another level.
    late = carrier_factory(type="postdoc_workstation", level="national")
    accredit(late["id"], "2021-03-01", level="national")
    other_type = carrier_factory(type="skill_master_studio", level="national")
    accredit(other_type["id"], "2010-06-01", level="national")

    created = api.post("/api/v1/evaluation-campaigns", json=CAMPAIGN, token=admin)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["covered_count"] == 1

    # Before the campaign was announced nothing is due; before the 90-day window neither.
    scan_cli(app, "2025-02-28")
    assert unresolved(in_db, station) == set()
    scan_cli(app, "2025-03-31")
    assert unresolved(in_db, station) == set()
    # Inside the window: evaluation_due for the materials deadline, days_left follows.
    scan_cli(app, "2025-04-01")
    assert unresolved(in_db, station) == {("evaluation_due", "2025-06-30", 90)}
    scan_cli(app, "2025-06-23")
    assert unresolved(in_db, station) == {("evaluation_due", "2025-06-30", 7)}
    scan_cli(app, "2025-06-23")  # idempotent: one alert per carrier, kind and due date
    with in_db():
        of_station = (Alert.carrier == station) & (Alert.kind == "evaluation_due")
        assert Alert.select().where(of_station).count() == 1
    scan_cli(app, "2025-06-30")
    assert unresolved(in_db, station) == {("evaluation_due", "2025-06-30", 0)}
    # Past the deadline: overdue replaces due.
    scan_cli(app, "2025-07-01")
    assert unresolved(in_db, station) == {("evaluation_overdue", "2025-06-30", -1)}
    assert statuses(in_db, station)[("evaluation_due", "2025-06-30")] == "resolved"
    for carrier_id in (late["id"], other_type["id"]):
        assert not [a for a in unresolved(in_db, carrier_id) if a[0].startswith("evaluation")]

    # The evaluation is recorded: the alert resolves in the same write, not at the next scan.
    response = api.post(
        f"/api/v1/carriers/{station}/milestones",
        json={"kind": "term_evaluation", "occurred_on": "2025-09-15", "result": "good"},
        token=admin,
    )
    assert response.status_code == 201, response.get_json()
    assert unresolved(in_db, station) == set()
    # And the scan agrees, on any later day.
    scan_cli(app, "2025-09-20")
    assert unresolved(in_db, station) == set()
    # The station never lapses: no validity alert, no expiry, even years later.
    scan_cli(app, "2026-11-30")
    assert unresolved(in_db, station) == set()
    with in_db():
        assert Carrier.get_by_id(station).status == "accredited"


def test_a_failing_evaluation_answers_the_campaign_too(app, api, admin, station, in_db):
    assert api.post("/api/v1/evaluation-campaigns", json=CAMPAIGN, token=admin).status_code == 201
    scan_cli(app, "2025-07-01")
    assert unresolved(in_db, station) == {("evaluation_overdue", "2025-06-30", -1)}
    response = api.post(
        f"/api/v1/carriers/{station}/milestones",
        json={"kind": "term_evaluation", "occurred_on": "2025-09-15", "result": "fail"},
        token=admin,
    )
    assert response.status_code == 201
    kinds = {kind for kind, _, _ in unresolved(in_db, station)}
    assert "evaluation_overdue" not in kinds and "evaluation_due" not in kinds


def test_an_evaluation_before_the_campaign_does_not_answer_it(app, api, admin, station, in_db):
    response = api.post(
        f"/api/v1/carriers/{station}/milestones",
        json={"kind": "term_evaluation", "occurred_on": "2015-10-01", "result": "pass"},
        token=admin,
    )
    assert response.status_code == 201
    assert api.post("/api/v1/evaluation-campaigns", json=CAMPAIGN, token=admin).status_code == 201
    scan_cli(app, "2025-05-01")
    assert unresolved(in_db, station) == {("evaluation_due", "2025-06-30", 60)}


def local_today(in_db) -> dt.date:
    """Today in the configured zone (not the machine's)."""
    from registry import clock

    with in_db():
        return clock.today()


def test_recording_a_campaign_opens_alerts_at_once_and_deleting_resolves_them(
    app, api, admin, station, in_db
):
    today = local_today(in_db)
    body = {
        **CAMPAIGN,
        "opened_on": (today - dt.timedelta(days=10)).isoformat(),
        "materials_due_on": (today + dt.timedelta(days=20)).isoformat(),
        "evaluation_on": None,
    }
    created = api.post("/api/v1/evaluation-campaigns", json=body, token=admin)
    assert created.status_code == 201
    campaign = created.get_json()
    assert unresolved(in_db, station) == {("evaluation_due", body["materials_due_on"], 20)}

    # Moving the deadline moves the alert: the old one resolves, a new one opens.
    later = (today + dt.timedelta(days=40)).isoformat()
    patched = api.patch(
        f"/api/v1/evaluation-campaigns/{campaign['id']}",
        json={"materials_due_on": later},
        token=admin,
        headers={"If-Match": created.headers["ETag"]},
    )
    assert patched.status_code == 200, patched.get_json()
    assert unresolved(in_db, station) == {("evaluation_due", later, 40)}

    deleted = api.delete(
        f"/api/v1/evaluation-campaigns/{campaign['id']}",
        token=admin,
        headers={"If-Match": patched.headers["ETag"]},
    )
    assert deleted.status_code == 204
    assert unresolved(in_db, station) == set()
    with in_db():
        actions = [
            c.action for c in Change.select().where(Change.object_type == "evaluation_campaign")
        ]
    assert actions == ["create", "update", "delete"]


def test_campaign_access(api, admin, viewer, make_token, org_factory, carrier_factory, accredit):
    host = org_factory()
    own = carrier_factory(
        type="postdoc_workstation", level="national", host_organization_id=host["id"]
    )
    accredit(own["id"], "2010-06-01", level="national")
    other = carrier_factory(type="postdoc_workstation", level="national")
    accredit(other["id"], "2010-06-01", level="national")
    covering = api.post("/api/v1/evaluation-campaigns", json=CAMPAIGN, token=admin).get_json()
    elsewhere = api.post(
        "/api/v1/evaluation-campaigns",
        json={**CAMPAIGN, "name": "众创空间绩效评价", "types": ["maker_space"], "levels": []},
        token=admin,
    ).get_json()
    operator = make_token("operator", [host["id"]])
    stranger = make_token("operator", [org_factory()["id"]])

    assert api.get("/api/v1/evaluation-campaigns").status_code == 401
    assert len(api.get("/api/v1/evaluation-campaigns", token=viewer).get_json()) == 2
    seen = api.get("/api/v1/evaluation-campaigns", token=operator).get_json()
    assert [item["id"] for item in seen] == [covering["id"]]
    assert seen[0]["covered_count"] == 1  # only its own carrier, not the other host's
    assert covering["covered_count"] == 2
    assert (
        api.get(f"/api/v1/evaluation-campaigns/{elsewhere['id']}", token=operator).status_code
        == 404
    )
    assert api.get("/api/v1/evaluation-campaigns", token=stranger).get_json() == []
    for token in (viewer, operator):
        assert (
            api.post("/api/v1/evaluation-campaigns", json=CAMPAIGN, token=token).status_code == 403
        )
    filtered = api.get("/api/v1/evaluation-campaigns?type=maker_space", token=admin).get_json()
    assert [item["id"] for item in filtered] == [elsewhere["id"]]


@pytest.mark.parametrize(
    "change,field",
    [
        ({"types": []}, "types"),
        ({"types": ["no_such_type"]}, "types"),
        ({"levels": ["national", "national"]}, "levels"),
        ({"materials_due_on": "2025-02-01"}, "materials_due_on"),
        ({"evaluation_on": "2025-06-01"}, "evaluation_on"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_campaigns_are_refused_and_change_nothing(api, admin, db_state, change, field):
    before = db_state()
    response = api.post("/api/v1/evaluation-campaigns", json={**CAMPAIGN, **change}, token=admin)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]
    assert db_state() == before


def test_stale_if_match_is_412_and_changes_nothing(api, admin, db_state, in_db):
    created = api.post("/api/v1/evaluation-campaigns", json=CAMPAIGN, token=admin)
    url = f"/api/v1/evaluation-campaigns/{created.get_json()['id']}"
    etag = created.headers["ETag"]
    assert (
        api.patch(url, json={"name": "新名称"}, token=admin, headers={"If-Match": etag}).status_code
        == 200
    )
    before = db_state()
    stale = api.patch(url, json={"name": "再改"}, token=admin, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert api.patch(url, json={"name": "再改"}, token=admin).status_code == 428
    assert db_state() == before
    with in_db():
        assert EvaluationCampaign.get_by_id(created.get_json()["id"]).name == "新名称"


# --- policies that do not lapse -----------------------------------------------------------


def test_the_default_postdoc_workstation_policy_does_not_lapse(api, admin):
    policy = api.get("/api/v1/evaluation-policies/postdoc_workstation/national", token=admin)
    body = policy.get_json()
    assert body["lapses"] is False
    assert body["term_years"] is None
    assert "人社部发〔2008〕115号" in body["source"]
    studio = api.get("/api/v1/evaluation-policies/skill_master_studio/county", token=admin)
    assert studio.get_json()["lapses"] is True


def test_a_station_with_a_stated_validity_still_never_expires(
    app, carrier_factory, accredit, in_db
):
    carrier = carrier_factory(type="postdoc_workstation", level="national")
    accredit(carrier["id"], "2015-01-01", level="national", valid_until=D("2020-01-01"))
    scan_cli(app, "2019-12-01")
    scan_cli(app, "2021-01-01")
    assert unresolved(in_db, carrier["id"]) == set()
    with in_db():
        assert Carrier.get_by_id(carrier["id"]).status == "accredited"


def test_lapses_is_editable_and_alerts_follow_at_once(api, admin, carrier_factory, record, in_db):
    carrier = carrier_factory(type="skill_master_studio", level="county")
    today = local_today(in_db)
    # Validity ends in 20 days: accreditation_expiring is open after the write.
    response = record(
        carrier["id"],
        "accredited",
        (today - dt.timedelta(days=300)).isoformat(),
        valid_until=(today + dt.timedelta(days=20)).isoformat(),
    )
    assert response.status_code == 201, response.get_json()
    assert "accreditation_expiring" in {k for k, _, _ in unresolved(in_db, carrier["id"])}
    url = "/api/v1/evaluation-policies/skill_master_studio/county"
    etag = api.get(url, token=admin).headers["ETag"]
    response = api.patch(url, json={"lapses": False}, token=admin, headers={"If-Match": etag})
    assert response.status_code == 200 and response.get_json()["lapses"] is False
    assert "accreditation_expiring" not in {k for k, _, _ in unresolved(in_db, carrier["id"])}
    etag = response.headers["ETag"]
    response = api.patch(
        url, json={"lapses": True, "source": "本局自定"}, token=admin, headers={"If-Match": etag}
    )
    assert response.get_json()["source"] == "本局自定"
    assert "accreditation_expiring" in {k for k, _, _ in unresolved(in_db, carrier["id"])}


# --- migration 8 ----------------------------------------------------------------------------


def test_migration_8_upgrades_a_database_from_before_it(app):
    """From the schema before step 8: the campaign table and the new columns appear, the
    national postdoctoral workstations stop lapsing, and undelivered events get their
    carrier from the payload (delivered ones stay as they were)."""
    from registry import db
    from registry.db import SchemaVersion, database
    from registry.models import EvaluationPolicy, OutboxEvent

    with app.app_context(), database.connection_context():
        database.execute_sql("DROP TABLE evaluation_campaign")
        database.execute_sql("ALTER TABLE evaluation_policy DROP COLUMN lapses")
        database.execute_sql("ALTER TABLE evaluation_policy DROP COLUMN source")
        database.execute_sql("ALTER TABLE outbox_event DROP COLUMN carrier_id")
        SchemaVersion.delete().where(SchemaVersion.version == 8).execute()
        columns = "uid, type, occurred_at, data, dispatched_at, created_at, updated_at"
        for uid, data, dispatched in (
            ("evt_pending", '{"alert": {"carrier_id": 5, "id": 1}}', None),
            ("evt_sent", '{"carrier": {"id": 6}}', "2025-01-01 00:00:00"),
        ):
            database.execute_sql(
                f"INSERT INTO outbox_event ({columns}) VALUES "
                + ("(%s, %s, %s, %s, %s, %s, %s)" if db.is_postgres() else "(?, ?, ?, ?, ?, ?, ?)"),
                (
                    uid,
                    "alert.opened",
                    "2025-01-01 00:00:00",
                    data,
                    dispatched,
                    "2025-01-01 00:00:00",
                    "2025-01-01 00:00:00",
                ),
            )

        assert db.upgrade() == [8]

        assert EvaluationCampaign.select().count() == 0
        carriers = dict(OutboxEvent.select(OutboxEvent.uid, OutboxEvent.carrier_id).tuples())
        assert carriers["evt_pending"] == 5 and carriers["evt_sent"] is None
        lapsing = {
            (policy.type, policy.lapses)
            for policy in EvaluationPolicy.select()
            if policy.type in ("postdoc_workstation", "maker_space")
        }
        assert lapsing == {("postdoc_workstation", False), ("maker_space", True)}
        assert db.upgrade() == []
