"""Alerts follow the work (issue 14 #3): every write that moves a carrier's deadlines
reconciles that carrier's alerts in its own transaction, through the rules the scan uses."""

import datetime as dt

import pytest

from registry import clock
from registry.models import Alert, OutboxEvent


@pytest.fixture
def today(in_db) -> dt.date:
    with in_db():
        return clock.today()


def unresolved(in_db, carrier_id) -> set[tuple[str, str]]:
    with in_db():
        return {
            (a.kind, a.due_on.isoformat())
            for a in Alert.select().where(
                (Alert.carrier == carrier_id) & (Alert.status != "resolved")
            )
        }


def kinds(in_db, carrier_id) -> set[str]:
    return {kind for kind, _ in unresolved(in_db, carrier_id)}


@pytest.fixture
def studio(carrier_factory, record, today):
    """A county studio accredited 3 years less 30 days ago (through HTTP): its term
    evaluation and validity end fall 30 days ahead, inside the 90-day window, and it has
    reports to file."""
    carrier = carrier_factory(type="skill_master_studio", level="county")
    start = today.replace(year=today.year - 3) + dt.timedelta(days=30)
    assert record(carrier["id"], "accredited", start.isoformat()).status_code == 201
    return carrier["id"]


def test_recording_the_accreditation_opens_its_alerts_at_once(in_db, studio):
    # The county studio policy asks for a yearly assessment, so one is overdue now; the
    # validity end is 30 days ahead.
    assert {"evaluation_overdue", "accreditation_expiring"} <= kinds(in_db, studio)


def test_a_passing_evaluation_resolves_and_voiding_it_reopens(api, admin, in_db, studio, today):
    before = kinds(in_db, studio)
    assert "evaluation_overdue" in before
    posted = api.post(
        f"/api/v1/carriers/{studio}/milestones",
        json={"kind": "term_evaluation", "occurred_on": today.isoformat(), "result": "good"},
        token=admin,
    )
    assert posted.status_code == 201, posted.get_json()
    after = kinds(in_db, studio)
    assert not {"evaluation_overdue", "evaluation_due", "accreditation_expiring"} & after
    assert posted.get_json()["carrier"]["open_alert_count"] == len(unresolved(in_db, studio))
    with in_db():
        resolved = OutboxEvent.select().where(OutboxEvent.type == "alert.resolved")
        assert {event.carrier_id for event in resolved} == {studio}

    milestone_id = posted.get_json()["milestone"]["id"]
    voided = api.post(
        f"/api/v1/carriers/{studio}/milestones/{milestone_id}/void",
        json={"reason": "录入错误"},
        token=admin,
    )
    assert voided.status_code == 200, voided.get_json()
    assert kinds(in_db, studio) == before


def test_reports_resolve_and_a_returned_report_reopens(
    api, admin, in_db, carrier_factory, record, today
):
    carrier = carrier_factory(type="skill_master_studio", level="national")
    start = today.replace(year=today.year - 2, month=1, day=1)
    assert record(carrier["id"], "accredited", start.isoformat()).status_code == 201
    first_year = today.year - 2
    assert "report_overdue" in kinds(in_db, carrier["id"])
    response = api.post(
        f"/api/v1/carriers/{carrier['id']}/annual-reports",
        json={"year": first_year, "metrics": {"apprentices_trained": 3}},
        token=admin,
    )
    assert response.status_code == 201, response.get_json()
    due_dates = {due for kind, due in unresolved(in_db, carrier["id"]) if kind.startswith("report")}
    assert f"{first_year + 1}-03-31" not in due_dates
    review = api.post(
        f"/api/v1/annual-reports/{response.get_json()['id']}/review",
        json={"status": "returned", "review_comment": "数据不全"},
        token=admin,
    )
    assert review.status_code == 200, review.get_json()
    assert ("report_overdue", f"{first_year + 1}-03-31") in unresolved(in_db, carrier["id"])


def test_a_carrier_override_moves_its_alerts(api, admin, in_db, studio, today):
    assert "accreditation_expiring" in kinds(in_db, studio)
    url = f"/api/v1/carriers/{studio}"
    etag = api.get(url, token=admin).headers["ETag"]
    later = (today + dt.timedelta(days=400)).isoformat()
    response = api.patch(url, json={"valid_until": later}, token=admin, headers={"If-Match": etag})
    assert response.status_code == 200, response.get_json()
    assert "accreditation_expiring" not in kinds(in_db, studio)
    assert response.get_json()["open_alert_count"] == len(unresolved(in_db, studio))


def test_a_policy_edit_moves_the_alerts_of_its_carriers(api, admin, in_db, studio):
    assert "accreditation_expiring" in kinds(in_db, studio)
    url = "/api/v1/evaluation-policies/skill_master_studio/county"
    etag = api.get(url, token=admin).headers["ETag"]
    # A 10-day window: the validity end 30 days ahead is no longer flagged.
    response = api.patch(url, json={"warn_days": [10]}, token=admin, headers={"If-Match": etag})
    assert response.status_code == 200
    assert "accreditation_expiring" not in kinds(in_db, studio)


def test_the_scan_after_a_write_changes_nothing(api, admin, in_db, studio, scan_on, today):
    api.post(
        f"/api/v1/carriers/{studio}/milestones",
        json={"kind": "term_evaluation", "occurred_on": today.isoformat(), "result": "pass"},
        token=admin,
    )
    result = scan_on(today)
    assert sum(result.opened.values()) == 0
    assert sum(result.resolved.values()) == 0


def test_events_name_their_carrier(api, admin, in_db, studio):
    with in_db():
        events = list(OutboxEvent.select())
    about_studio = [e for e in events if e.type in ("milestone.recorded", "alert.opened")]
    assert about_studio and {e.carrier_id for e in about_studio} == {studio}


def test_a_bulk_load_reconciles_each_carrier_once(in_db, today):
    """The demo writes each carrier's history piece by piece inside ``alerts.deferred``: it
    opens with its alerts, and none opened by one write only to be resolved by the next."""
    from fixtures import loader

    with in_db():
        loader.load_demo(today)
        assert Alert.select().where(Alert.status == "open").count() > 0
        assert Alert.select().where(Alert.status == "resolved").count() == 0
        assert OutboxEvent.select().where(OutboxEvent.type == "alert.resolved").count() == 0
