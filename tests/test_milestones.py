"""Milestones over HTTP: recording applies the lifecycle, voiding replays it (SPEC §2.3-2.4)."""

import datetime as dt

import pytest

from registry.models import Carrier, Change, Milestone, OutboxEvent
from registry.vocabulary import MILESTONE_KINDS

BASE = "/api/v1/carriers"


def url(carrier_id, *rest):
    return "/".join([f"{BASE}/{carrier_id}/milestones", *map(str, rest)])


def state(api, admin, carrier_id):
    return api.get(f"{BASE}/{carrier_id}", token=admin).get_json()


def test_recording_applies_the_lifecycle_and_answers_the_carrier(api, admin, carrier_factory):
    carrier = carrier_factory(level="municipal")
    response = api.post(
        url(carrier["id"]),
        token=admin,
        json={
            "kind": "accredited",
            "occurred_on": "2024-02-29",
            "level": "provincial",
            "certificate_no": "ZJ-2024-001",
            "document_ref": "浙人社发〔2024〕1号",
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"milestone", "carrier"}
    milestone = body["milestone"]
    assert milestone["kind"] == "accredited" and milestone["voided"] is False
    assert milestone["recorded_by"] == "bureau admin"
    assert response.headers["Location"] == url(carrier["id"], milestone["id"])
    after = body["carrier"]
    assert after["status"] == "accredited" and after["level"] == "provincial"
    assert after["accredited_on"] == "2024-02-29" and after["certificate_no"] == "ZJ-2024-001"
    assert after["valid_until"] == "2027-02-28" and after["next_evaluation_on"] == "2027-02-28"
    # The answer's ETag is the carrier's current one (the version moves with the milestone,
    # and again when the alerts it reconciles change the open-alert count).
    read = api.get(f"/api/v1/carriers/{carrier['id']}", token=admin)
    assert response.headers["ETag"] == read.headers["ETag"] != f'"c{carrier["id"]}-v1"'
    assert state(api, admin, carrier["id"]) == after


def test_record_is_audited_once_with_an_event(api, admin, carrier_factory, record, rows):
    carrier = carrier_factory()
    before = rows(Change)
    assert record(carrier["id"], "accredited", "2024-01-10").status_code == 201
    assert rows(Change) == before + 1
    assert rows(Change, Change.action == "milestone", Change.object_id == carrier["id"]) == 1
    assert rows(OutboxEvent, OutboxEvent.type == "milestone.recorded") == 1


def test_refused_transition_is_409_naming_status_and_milestone(api, admin, carrier_factory, record):
    carrier = carrier_factory()
    record(carrier["id"], "accredited", "2019-01-10")
    record(carrier["id"], "revoked", "2022-01-10")
    before = state(api, admin, carrier["id"])
    response = record(carrier["id"], "term_evaluation", "2023-02-01", result="pass")
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert response.get_json()["detail"] == (
        f"Carrier {carrier['id']} is revoked; a term_evaluation cannot be recorded for a "
        "revoked carrier."
    )
    assert state(api, admin, carrier["id"]) == before


# From each status, every kind a client may post: recorded (new status) or refused (409).
SETUPS = {
    "applying": [],
    "accredited": [("accredited", {})],
    "rectifying": [("accredited", {}), ("annual_assessment", {"result": "fail"})],
    "revoked": [("accredited", {}), ("revoked", {})],
    "closed": [("closed", {})],
}
EXPECTED = {
    "applying": {
        "application_submitted": "applying",
        "accredited": "accredited",
        "closed": "closed",
    },
    "accredited": {
        "level_changed": "accredited",
        "annual_assessment": "accredited",
        "mid_term_evaluation": "accredited",
        "term_evaluation": "accredited",
        "revoked": "revoked",
        "closed": "closed",
    },
    "rectifying": {
        "annual_assessment": "accredited",
        "mid_term_evaluation": "accredited",
        "term_evaluation": "accredited",
        "rectification_completed": "accredited",
        "revoked": "revoked",
        "closed": "closed",
    },
    "revoked": {"application_submitted": "applying", "closed": "closed"},
    "closed": {},
}
FIELDS = {
    "level_changed": {"level": "national"},
    "annual_assessment": {"result": "pass"},
    "mid_term_evaluation": {"result": "good"},
    "term_evaluation": {"result": "excellent"},
}


@pytest.mark.parametrize("status", sorted(SETUPS))
def test_every_kind_from_every_status_over_http(api, admin, carrier_factory, record, status):
    for kind in MILESTONE_KINDS:
        carrier = carrier_factory()
        for index, (step, fields) in enumerate(SETUPS[status]):
            assert record(carrier["id"], step, f"2020-0{index + 1}-01", **fields).status_code == 201
        assert state(api, admin, carrier["id"])["status"] == status
        response = record(carrier["id"], kind, "2021-06-01", **FIELDS.get(kind, {}))
        expected = EXPECTED[status].get(kind)
        if expected is None:
            assert response.status_code == 409, (status, kind)
            assert f"is {status}; " in response.get_json()["detail"]
            assert state(api, admin, carrier["id"])["status"] == status
        else:
            assert response.status_code == 201, (status, kind, response.get_json())
            assert response.get_json()["carrier"]["status"] == expected


def test_submitted_rejected_and_expired_statuses_over_http(
    app, api, admin, carrier_factory, record
):
    from registry import db, milestones

    made = {name: carrier_factory()["id"] for name in ("submitted", "rejected", "expired")}
    with app.test_request_context(), db.database.connection_context():
        for name in ("submitted", "rejected"):
            Carrier.update(status=name, initial_status=name).where(
                Carrier.id == made[name]
            ).execute()
        carrier = Carrier.get_by_id(made["expired"])
        milestones.record_milestone(
            carrier, {"kind": "accredited", "occurred_on": dt.date(2019, 1, 1)}
        )
        milestones.record_milestone(
            carrier, {"kind": "expired", "occurred_on": dt.date(2022, 1, 1)}
        )
    assert record(made["submitted"], "accredited", "2023-01-01").status_code == 201
    assert record(made["rejected"], "accredited", "2023-01-01").status_code == 409
    assert record(made["rejected"], "application_submitted", "2023-01-01").status_code == 201
    assert (
        record(made["expired"], "annual_assessment", "2023-01-01", result="pass").status_code == 409
    )
    renewed = record(made["expired"], "term_evaluation", "2023-01-01", result="pass")
    assert renewed.get_json()["carrier"]["status"] == "accredited"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"kind": "accredited", "occurred_on": "2999-01-01"}, "occurred_on"),
        ({"kind": "accredited", "occurred_on": "2024-01-01", "result": "pass"}, "result"),
        ({"kind": "term_evaluation", "occurred_on": "2024-01-01"}, "result"),
        ({"kind": "closed", "occurred_on": "2024-01-01", "result": "fail"}, "result"),
        ({"kind": "closed", "occurred_on": "2024-01-01", "level": "national"}, "level"),
        ({"kind": "level_changed", "occurred_on": "2024-01-01"}, "level"),
        ({"kind": "expired", "occurred_on": "2024-01-01"}, "kind"),
        ({"kind": "promoted", "occurred_on": "2024-01-01"}, "kind"),
        ({"kind": "accredited"}, "occurred_on"),
        ({"kind": "accredited", "occurred_on": "2024-02-30"}, "occurred_on"),
        ({"kind": "accredited", "occurred_on": "2024-01-01", "level": "galactic"}, "level"),
        ({"kind": "annual_assessment", "occurred_on": "2024-01-01", "result": "meh"}, "result"),
        (
            {"kind": "accredited", "occurred_on": "2024-01-01", "certificate_no": 5},
            "certificate_no",
        ),
        (
            {"kind": "accredited", "occurred_on": "2024-01-01", "valid_until": "2023-01-01"},
            "valid_until",
        ),
        ({"kind": "accredited", "occurred_on": "2024-01-01", "bogus": 1}, "bogus"),
    ],
)
def test_bad_milestones_are_422_and_change_nothing(api, admin, carrier_factory, rows, body, field):
    carrier = carrier_factory()
    if body.get("kind") != "accredited":
        api.post(
            url(carrier["id"]),
            token=admin,
            json={"kind": "accredited", "occurred_on": "2023-01-01"},
        )
    before = state(api, admin, carrier["id"])
    changes = rows(Change)
    response = api.post(url(carrier["id"]), token=admin, json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert state(api, admin, carrier["id"]) == before
    assert rows(Change) == changes


@pytest.mark.parametrize("body", [[1, 2], "accredited", None, {"kind": None}, {"kind": 10**30}])
def test_odd_bodies_are_4xx(api, admin, carrier_factory, body):
    carrier = carrier_factory()
    response = api.post(url(carrier["id"]), token=admin, json=body)
    assert 400 <= response.status_code < 500


def test_only_the_bureau_admin_records_and_voids(
    api, admin, viewer, make_token, carrier_factory, record
):
    carrier = carrier_factory()
    accredited = record(carrier["id"], "accredited", "2023-01-01").get_json()["milestone"]
    operator = make_token("operator", [carrier["host_organization_id"]])
    partner = make_token("partner", [carrier["host_organization_id"]])
    body = {"kind": "annual_assessment", "occurred_on": "2024-01-01", "result": "pass"}
    for token, code in ((viewer, 403), (operator, 403), (partner, 403), (None, 401)):
        assert api.post(url(carrier["id"]), json=body, token=token).status_code == code
        void = api.post(
            url(carrier["id"], accredited["id"], "void"), json={"reason": "x"}, token=token
        )
        assert void.status_code == code
    assert api.post(url(4242), json=body, token=admin).status_code == 404
    assert len(api.get(url(carrier["id"]), token=admin).get_json()) == 1


def test_reads_follow_the_carrier_rules(
    api, admin, viewer, make_token, carrier_factory, org_factory, record
):
    carrier = carrier_factory()
    hidden = carrier_factory()
    record(carrier["id"], "accredited", "2023-01-01")
    record(hidden["id"], "application_submitted", "2023-01-01")
    own = make_token("operator", [carrier["host_organization_id"]])
    other = make_token("operator", [org_factory()["id"]])
    assert api.get(url(carrier["id"]), token=viewer).status_code == 200
    assert api.get(url(carrier["id"]), token=own).status_code == 200
    assert api.get(url(carrier["id"]), token=other).status_code == 403  # public carrier
    assert api.get(url(hidden["id"]), token=other).status_code == 404  # not visible at all
    assert api.get(url(carrier["id"])).status_code == 401
    first = api.get(url(carrier["id"]), token=own).get_json()[0]
    assert api.get(url(carrier["id"], first["id"]), token=own).get_json() == first
    assert api.get(url(hidden["id"], first["id"]), token=admin).status_code == 404


def test_a_back_dated_milestone_is_replayed_in_date_order(api, admin, carrier_factory, record):
    carrier = carrier_factory()
    record(carrier["id"], "accredited", "2020-03-01")
    record(carrier["id"], "term_evaluation", "2023-03-01", result="pass")
    # A level change that happened between the two, recorded late.
    late = record(carrier["id"], "level_changed", "2021-07-01", level="municipal")
    assert late.status_code == 201
    after = late.get_json()["carrier"]
    assert after["level"] == "municipal"
    assert after["next_evaluation_on"] == "2026-03-01"
    kinds = [m["kind"] for m in api.get(url(carrier["id"]), token=admin).get_json()]
    assert kinds == ["accredited", "level_changed", "term_evaluation"]


def test_a_back_dated_milestone_that_breaks_a_later_one_is_409(api, admin, carrier_factory, record):
    carrier = carrier_factory()
    record(carrier["id"], "accredited", "2020-03-01")
    evaluation = record(carrier["id"], "annual_assessment", "2021-03-01", result="pass")
    before = state(api, admin, carrier["id"])
    response = record(carrier["id"], "revoked", "2020-12-01")
    assert response.status_code == 409
    detail = response.get_json()["detail"]
    assert "annual_assessment of 2021-03-01" in detail
    assert f"milestone {evaluation.get_json()['milestone']['id']}" in detail
    assert state(api, admin, carrier["id"]) == before


def test_void_replays_the_history_without_the_milestone(api, admin, carrier_factory, record, rows):
    carrier = carrier_factory()
    record(carrier["id"], "accredited", "2020-03-01")
    before = state(api, admin, carrier["id"])
    wrong = record(carrier["id"], "annual_assessment", "2021-03-01", result="fail")
    assert wrong.get_json()["carrier"]["status"] == "rectifying"
    milestone_id = wrong.get_json()["milestone"]["id"]
    changes = rows(Change)
    events = rows(OutboxEvent, OutboxEvent.type.not_in(["alert.opened", "alert.resolved"]))
    response = api.post(
        url(carrier["id"], milestone_id, "void"), json={"reason": "录入错误：应为合格"}, token=admin
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["milestone"]["voided"] is True
    assert body["milestone"]["void_reason"] == "录入错误：应为合格"
    restored = {key: value for key, value in body["carrier"].items() if key != "updated_at"}
    assert restored == {key: value for key, value in before.items() if key != "updated_at"}
    # One event for the write; the alerts it reopened or resolved have their own.
    not_alerts = OutboxEvent.type.not_in(["alert.opened", "alert.resolved"])
    assert rows(Change) == changes + 1 and rows(OutboxEvent, not_alerts) == events + 1
    assert rows(Change, Change.action == "void") == 1
    listed = api.get(url(carrier["id"]), token=admin).get_json()
    assert [m["voided"] for m in listed] == [False, True]
    assert len(api.get(url(carrier["id"]) + "?voided=false", token=admin).get_json()) == 1
    again = api.post(url(carrier["id"], milestone_id, "void"), json={"reason": "x"}, token=admin)
    assert again.status_code == 409


def test_void_that_leaves_an_invalid_history_is_409(api, admin, carrier_factory, record, rows):
    carrier = carrier_factory()
    accredited = record(carrier["id"], "accredited", "2020-03-01").get_json()["milestone"]
    record(carrier["id"], "annual_assessment", "2021-03-01", result="pass")
    before = state(api, admin, carrier["id"])
    changes = rows(Change)
    response = api.post(
        url(carrier["id"], accredited["id"], "void"), json={"reason": "x"}, token=admin
    )
    assert response.status_code == 409
    assert "annual_assessment of 2021-03-01" in response.get_json()["detail"]
    assert state(api, admin, carrier["id"]) == before
    assert rows(Change) == changes
    assert rows(Milestone, Milestone.voided == True) == 0  # noqa: E712


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": 5}])
def test_void_needs_a_reason(api, admin, carrier_factory, record, body):
    carrier = carrier_factory()
    milestone = record(carrier["id"], "accredited", "2020-03-01").get_json()["milestone"]
    response = api.post(url(carrier["id"], milestone["id"], "void"), json=body, token=admin)
    assert response.status_code == 422
    assert "reason" in response.get_json()["errors"]


def test_void_of_another_carriers_milestone_is_404(api, admin, carrier_factory, record):
    first, second = carrier_factory(), carrier_factory()
    milestone = record(first["id"], "accredited", "2020-03-01").get_json()["milestone"]
    response = api.post(
        url(second["id"], milestone["id"], "void"), json={"reason": "x"}, token=admin
    )
    assert response.status_code == 404
