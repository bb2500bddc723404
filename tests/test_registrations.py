"""Partner registration of joint training bases and the bureau's review."""

import pytest

from registry import db, state, uscc

REGS = "/api/v1/registrations"
ENTERPRISE_CODE = "91330282000000001" + uscc.check_character("91330282000000001")
OTHER_CODE = "91330282000000002" + uscc.check_character("91330282000000002")


@pytest.fixture
def school(org_factory):
    """A university and an enterprise, and a partner token acting for the university."""
    return {
        "university": org_factory(name="宁波大学科学技术学院", kind="university"),
        "enterprise": org_factory(name="公牛集团", uscc=ENTERPRISE_CODE),
        "other": org_factory(name="别家企业"),
    }


@pytest.fixture
def partner(make_token, school):
    return make_token("partner", [school["university"]["id"]], name="科院实践处")


def body(school, **extra):
    return {
        "name": "公牛集团校企合作实习实践基地",
        "level": "county",
        "host_uscc": ENTERPRISE_CODE,
        "host_name": "公牛集团",
        "partners": [{"organization_id": school["university"]["id"], "role": "university"}],
        "contact": {"name": "王老师", "phone": "0574-12345678"},
        "town": "周巷镇",
        "description": "机电专业实习",
        **extra,
    }


@pytest.fixture
def submitted(api, partner, school):
    response = api.post(REGS, json=body(school), token=partner)
    assert response.status_code == 201, response.get_json()
    return response


def events(app, kind):
    from registry.models import OutboxEvent

    with app.app_context(), db.database.connection_context():
        return [e.data for e in OutboxEvent.select().where(OutboxEvent.type == kind)]


def test_partner_submits_a_joint_training_base(app, api, partner, school, submitted, admin):
    data = submitted.get_json()
    assert data["status"] == "submitted"
    assert data["type"] == "joint_training_base"
    assert data["submitted_by"] == "科院实践处"
    assert data["contact"]["name"] == "王老师"
    assert data["review_comment"] is None and data["reviewed_at"] is None
    assert submitted.headers["Location"] == f"{REGS}/{data['id']}"
    assert submitted.headers["ETag"] == f'"rg{data["id"]}-v1"'
    # The same carrier, not public while submitted.
    carrier = api.get(f"/api/v1/carriers/{data['id']}", token=admin).get_json()
    assert carrier["status"] == "submitted" and carrier["level"] == "county"
    assert api.get(f"/api/v1/carriers/{data['id']}").status_code == 404
    assert api.get(f"{REGS}/{data['id']}", token=partner).status_code == 200
    [event] = events(app, "registration.submitted")
    assert event["registration"]["id"] == data["id"]


def test_partner_reads_only_its_own_submissions(api, make_token, partner, school, submitted):
    other = make_token("partner", [school["other"]["id"]])
    reg = submitted.get_json()["id"]
    assert api.get(REGS, token=partner).headers["X-Total-Count"] == "1"
    assert api.get(REGS, token=other).headers["X-Total-Count"] == "0"
    assert api.get(f"{REGS}/{reg}", token=other).status_code == 404
    assert api.get(f"/api/v1/carriers/{reg}", token=other).status_code == 404
    assert api.get(f"/api/v1/carriers/{reg}/history", token=other).status_code == 404
    assert api.get(REGS).status_code == 401


def test_partner_only_registers_for_its_own_organisations(api, partner, school, db_state):
    before = db_state()
    foreign = body(
        school,
        partners=[{"organization_id": school["other"]["id"], "role": "enterprise"}],
    )
    response = api.post(REGS, json=foreign, token=partner)
    # Another organisation is named by credit code, never by id (which would reveal it).
    assert response.status_code == 422
    assert "partners" in response.get_json()["errors"]
    assert db_state() == before


@pytest.mark.parametrize(
    "change,field",
    [
        ({"partners": []}, "partners"),
        ({"contact": None}, "contact"),
        ({"contact": {"name": "王老师"}}, "contact"),
        ({"type": "postdoc_workstation"}, "type"),
        ({"level": "cosmic"}, "level"),
        ({"status": "accredited"}, "status"),
        ({"valid_until": "2030-01-01"}, "valid_until"),
        ({"host_organization_id": 4242}, "host_uscc"),  # the host named twice
    ],
)
def test_bad_registrations_are_422_and_write_nothing(api, partner, school, db_state, change, field):
    before = db_state()
    response = api.post(REGS, json=body(school, **change), token=partner)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert db_state() == before


def test_missing_fields_are_422(api, partner, school):
    for name in ("name", "level", "host_uscc", "partners", "contact"):
        incomplete = {k: v for k, v in body(school).items() if k != name}
        if name == "host_uscc":
            del incomplete["host_name"]
            name = "host_organization_id"
        response = api.post(REGS, json=incomplete, token=partner)
        assert response.status_code == 422
        assert name in response.get_json()["errors"]


def test_partner_edits_until_review_and_the_reviewer_sees_before_after(
    api, partner, admin, submitted
):
    reg = submitted.get_json()["id"]
    url = f"{REGS}/{reg}"
    assert api.patch(url, json={"description": "新"}, token=partner).status_code == 428
    edited = api.patch(
        url,
        json={"description": "机电与模具专业实习", "level": "municipal"},
        token=partner,
        headers={"If-Match": submitted.headers["ETag"]},
    )
    assert edited.status_code == 200, edited.get_json()
    assert edited.get_json()["level"] == "municipal"
    history = api.get(f"/api/v1/carriers/{reg}/history?sort=at", token=admin).get_json()
    assert [h["action"] for h in history] == ["create", "update"]
    update = history[1]
    assert update["actor"] == "科院实践处" and update["token_name"] == "科院实践处"
    assert update["before"]["description"] == "机电专业实习"
    assert update["after"]["description"] == "机电与模具专业实习"
    assert set(update["changed"]) >= {"description", "level"}
    # The partner reads its own registration's history too.
    assert api.get(f"/api/v1/carriers/{reg}/history", token=partner).status_code == 200

    reviewed = api.post(f"{url}/reject", json={"reason": "材料不全"}, token=admin)
    assert reviewed.status_code == 200
    late = api.patch(
        url,
        json={"description": "补"},
        token=partner,
        headers={"If-Match": reviewed.headers["ETag"]},
    )
    assert late.status_code == 409
    assert "reviewed" in late.get_json()["detail"]


def test_partner_may_not_edit_away_its_own_organisation(api, partner, school, submitted, db_state):
    before = db_state()
    response = api.patch(
        f"{REGS}/{submitted.get_json()['id']}",
        json={"partners": [{"uscc": OTHER_CODE, "name": "别家企业", "role": "enterprise"}]},
        token=partner,
        headers={"If-Match": "*"},
    )
    assert response.status_code == 403
    assert db_state() == before


def test_approve_as_accredited_records_the_milestone(app, api, admin, partner, submitted, changes):
    reg = submitted.get_json()["id"]
    count = len(changes())
    response = api.post(
        f"{REGS}/{reg}/approve",
        json={
            "status": "accredited",
            "occurred_on": "2024-06-01",
            "level": "municipal",
            "certificate_no": "NB-2024-007",
            "comment": "同意认定",
        },
        token=admin,
    )
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["status"] == "accredited" and data["level"] == "municipal"
    assert data["accredited_on"] == "2024-06-01" and data["certificate_no"] == "NB-2024-007"
    assert data["review_comment"] == "同意认定" and data["reviewed_by"] == "bureau admin"
    new = changes()[count:]
    assert len(new) == 1
    assert new[0]["action"] == "review" and new[0]["before"]["status"] == "submitted"
    assert new[0]["after"]["milestone"]["kind"] == "accredited"
    assert new[0]["after"]["review"]["decision"] == "accredited"
    [event] = events(app, "registration.reviewed")
    assert event["decision"] == "accredited"
    # Now public, and its milestones replay to the same state.
    assert api.get(f"/api/v1/carriers/{reg}").status_code == 200
    again = api.post(f"{REGS}/{reg}/reject", json={"reason": "x"}, token=admin)
    assert again.status_code == 409
    again = api.post(f"{REGS}/{reg}/approve", json={"status": "applying"}, token=admin)
    assert again.status_code == 409
    assert len(changes()) == count + 1


def test_approve_as_applying_defaults_to_today(app, api, admin, submitted):
    from registry.clock import today
    from registry.models import Milestone

    reg = submitted.get_json()["id"]
    response = api.post(f"{REGS}/{reg}/approve", json={"status": "applying"}, token=admin)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "applying"
    with app.app_context(), db.database.connection_context():
        [milestone] = Milestone.select().where(Milestone.carrier == reg)
        assert milestone.kind == "application_submitted"
        assert milestone.occurred_on == today()
        assert milestone.recorded_by == "bureau admin"


def test_reject_keeps_the_reason_and_replays_consistently(app, api, admin, partner, submitted):
    from registry.models import Carrier

    reg = submitted.get_json()["id"]
    assert api.post(f"{REGS}/{reg}/reject", json={}, token=admin).status_code == 422
    assert api.post(f"{REGS}/{reg}/reject", json={"reason": "  "}, token=admin).status_code == 422
    response = api.post(f"{REGS}/{reg}/reject", json={"reason": "不符合条件"}, token=admin)
    assert response.status_code == 200
    data = response.get_json()
    assert data["status"] == "rejected" and data["review_comment"] == "不符合条件"
    assert api.get(f"{REGS}/{reg}", token=partner).get_json()["review_comment"] == "不符合条件"
    with app.test_request_context(), db.database.connection_context():
        carrier = Carrier.get_by_id(reg)
        replayed = state.replay_state(carrier, state.active_milestones(reg))
        assert replayed.status == "rejected"
    listed = api.get(f"{REGS}?status=rejected", token=admin)
    assert listed.headers["X-Total-Count"] == "1"


@pytest.mark.parametrize(
    "decision,field",
    [
        ({}, "status"),
        ({"status": "revoked"}, "status"),
        ({"status": "applying", "level": "national"}, "level"),
        ({"status": "accredited", "occurred_on": "2999-01-01"}, "occurred_on"),
        (
            {"status": "accredited", "occurred_on": "2024-01-01", "valid_until": "2023-01-01"},
            "valid_until",
        ),
        ({"status": "accredited", "occurred_on": "2024-02-30"}, "occurred_on"),
    ],
)
def test_bad_approvals_are_422_and_change_nothing(api, admin, submitted, db_state, decision, field):
    before = db_state()
    response = api.post(f"{REGS}/{submitted.get_json()['id']}/approve", json=decision, token=admin)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert db_state() == before


def test_review_of_unknown_registration_is_404(api, admin, carrier_factory):
    plain = carrier_factory()  # created by the bureau: not a registration
    assert (
        api.post(f"{REGS}/{plain['id']}/reject", json={"reason": "x"}, token=admin).status_code
        == 404
    )
    assert (
        api.post(f"{REGS}/999/approve", json={"status": "applying"}, token=admin).status_code == 404
    )
    assert api.get(f"{REGS}/{plain['id']}", token=admin).status_code == 404


def test_admin_may_submit_and_edit_for_anyone(api, admin, school):
    response = api.post(REGS, json=body(school), token=admin)
    assert response.status_code == 201
    assert response.get_json()["submitted_by"] == "bureau admin"
    edited = api.patch(
        f"{REGS}/{response.get_json()['id']}",
        json={"name": "新名"},
        token=admin,
        headers={"If-Match": response.headers["ETag"]},
    )
    assert edited.status_code == 200


def test_operator_of_the_host_sees_but_does_not_touch_a_registration(
    api, make_token, school, admin
):
    operator = make_token("operator", [school["enterprise"]["id"]])
    named = {**body(school), "host_organization_id": school["enterprise"]["id"]}
    del named["host_uscc"], named["host_name"]
    submitted = api.post(REGS, json=named, token=admin)
    reg = submitted.get_json()["id"]
    assert api.get(f"{REGS}/{reg}", token=operator).status_code == 200
    response = api.patch(
        f"/api/v1/carriers/{reg}",
        json={"description": "运营方改"},
        token=operator,
        headers={"If-Match": "*"},
    )
    assert response.status_code == 403
    response = api.patch(
        f"{REGS}/{reg}", json={"description": "x"}, token=operator, headers={"If-Match": "*"}
    )
    assert response.status_code == 403


def test_patch_with_a_partner_missing_its_organisation_is_422(api, partner, submitted, db_state):
    before = db_state()
    response = api.patch(
        f"{REGS}/{submitted.get_json()['id']}",
        json={"partners": [{"role": "university"}]},
        token=partner,
        headers={"If-Match": submitted.headers["ETag"]},
    )
    assert response.status_code == 422
    assert "partners" in response.get_json()["errors"]
    assert db_state() == before
