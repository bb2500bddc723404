"""Access holes of issue 9 (defect 9) and the partner and operator workflow of issue 14
(items 8 and 9), role by role through HTTP: refusals change nothing, each accepted write
leaves exactly one audit record naming its actor by name and id."""

import pytest

from registry import db, uscc

REGS = "/api/v1/registrations"
ORGS = "/api/v1/organizations"


def code(number: int) -> str:
    """A valid unified social credit code (check digit computed)."""
    first17 = f"9133028{number:010d}"
    return first17 + uscc.check_character(first17)


@pytest.fixture
def world(api, admin, make_token, org_factory):
    """A university with two partner principals, an enterprise with an operator and a
    partner, and an unrelated partner."""
    university = org_factory(name="宁波大学科学技术学院", kind="university", uscc=code(1))
    enterprise = org_factory(name="公牛集团", uscc=code(2))
    other = org_factory(name="别家企业", uscc=code(3))
    return {
        "university": university,
        "enterprise": enterprise,
        "other": other,
        "partner": make_token("partner", [university["id"]], name="科院实践处"),
        "colleague": make_token("partner", [university["id"]], name="科院教务处"),
        "enterprise_partner": make_token("partner", [enterprise["id"]], name="公牛人事部"),
        "stranger": make_token("partner", [other["id"]], name="别家"),
        "operator": make_token("operator", [enterprise["id"]], name="公牛运营"),
        "admin": admin,
        "viewer": make_token("bureau_viewer"),
    }


def registration(world, **extra):
    return {
        "name": "公牛集团校企合作实习实践基地",
        "level": "county",
        "host_uscc": world["enterprise"]["uscc"],
        "host_name": "公牛（我们这样叫它）",
        "partners": [{"organization_id": world["university"]["id"], "role": "university"}],
        "contact": {"name": "王老师", "phone": "0574-12345678"},
        **extra,
    }


def submit(api, world, token="partner", **extra):
    response = api.post(REGS, json=registration(world, **extra), token=world[token])
    assert response.status_code == 201, response.get_json().get("errors")
    return response


def new_changes(changes, count):
    return changes()[count:]


def principal_id(app, name):
    from registry.models import Principal

    with app.app_context(), db.database.connection_context():
        return Principal.get(Principal.name == name).id


def assert_one_record(changes, count, action, app, actor):
    [record] = new_changes(changes, count)
    assert record["action"] == action
    assert record["actor"] == actor and record["actor_id"] == principal_id(app, actor)
    return record


# --- partners are bureau-only -------------------------------------------------------------


def test_operator_may_not_edit_partners_of_its_own_carrier(
    api, world, carrier_factory, db_state, changes, app
):
    carrier = carrier_factory(host_organization_id=world["enterprise"]["id"])
    url = f"/api/v1/carriers/{carrier['id']}"
    etag = api.get(url, token=world["admin"]).headers["ETag"]
    partners = {"partners": [{"organization_id": world["other"]["id"], "role": "enterprise"}]}
    before = db_state()
    refused = api.patch(url, json=partners, token=world["operator"], headers={"If-Match": etag})
    assert refused.status_code == 403
    assert "partners" in refused.get_json()["detail"]
    assert db_state() == before
    # Its descriptive fields it still edits.
    count = len(changes())
    edited = api.patch(
        url, json={"description": "新"}, token=world["operator"], headers={"If-Match": etag}
    )
    assert edited.status_code == 200
    assert_one_record(changes, count, "update", app, "公牛运营")
    count = len(changes())
    edited = api.patch(
        url, json=partners, token=world["admin"], headers={"If-Match": edited.headers["ETag"]}
    )
    assert edited.status_code == 200
    assert [p["organization_id"] for p in edited.get_json()["partners"]] == [world["other"]["id"]]
    assert_one_record(changes, count, "update", app, "bureau admin")


# --- naming organisations by credit code --------------------------------------------------


def test_naming_a_host_by_code_reveals_nothing_and_shows_it_to_no_one(api, world, changes, app):
    count = len(changes())
    created = submit(api, world).get_json()
    record = assert_one_record(changes, count, "create", app, "科院实践处")
    assert record["object_id"] == created["id"]
    # The answer shows the host as typed, never the stored name or id.
    assert created["host_organization_id"] is None
    assert created["host_organization"] == {
        "id": None,
        "name": "公牛（我们这样叫它）",
        "uscc": world["enterprise"]["uscc"],
    }
    assert created["host_name"] == "公牛（我们这样叫它）"
    assert "公牛集团" not in str(created).replace(created["name"], "")
    assert created["submitted_by_organization_id"] == world["university"]["id"]
    # The enterprise's operator and partner do not see it before review.
    for who in ("operator", "enterprise_partner", "stranger"):
        assert api.get(f"{REGS}/{created['id']}", token=world[who]).status_code == 404
        assert api.get(REGS, token=world[who]).headers["X-Total-Count"] == "0"


@pytest.mark.parametrize("named", ["enterprise", "missing"])
def test_a_partner_names_other_organisations_only_by_code(api, world, db_state, named):
    org_id = world["enterprise"]["id"] if named == "enterprise" else 4242
    before = db_state()
    as_host = registration(world, host_organization_id=org_id)
    del as_host["host_uscc"], as_host["host_name"]
    as_partner = registration(
        world, partners=[{"organization_id": org_id, "role": "enterprise"}], host_uscc=code(1)
    )
    as_partner["host_name"] = "我们"
    answers = [api.post(REGS, json=body, token=world["partner"]) for body in (as_host, as_partner)]
    assert [a.status_code for a in answers] == [422, 422]
    assert "host_organization_id" in answers[0].get_json()["errors"]
    assert "partners" in answers[1].get_json()["errors"]
    # The same answer whether the organisation exists or not.
    assert "by its credit code" in answers[0].get_json()["errors"]["host_organization_id"][0]
    assert db_state() == before


@pytest.mark.parametrize(
    "change,field",
    [
        ({"host_uscc": "913302820000000001"}, "host_uscc"),  # bad check digit
        ({"host_name": None}, "host_name"),
        ({"host_organization_id": 1}, "host_uscc"),  # named twice
        ({"partners": [{"uscc": code(9), "role": "enterprise"}]}, "partners"),  # no name
        ({"partners": [{"role": "enterprise"}]}, "partners"),
    ],
)
def test_bad_names_are_422_and_write_nothing(api, world, db_state, change, field):
    body = {**registration(world), **change}
    body = {key: value for key, value in body.items() if value is not None}
    before = db_state()
    response = api.post(REGS, json=body, token=world["partner"])
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert db_state() == before


def test_a_partner_must_name_one_of_its_own(api, world, db_state):
    body = registration(world, partners=[{"uscc": code(3), "name": "别家", "role": "enterprise"}])
    before = db_state()
    response = api.post(REGS, json=body, token=world["partner"])
    assert response.status_code == 403
    assert db_state() == before


def test_approval_links_known_codes_and_creates_unknown_ones(api, world, changes, app):
    from registry.models import Organization

    new_code = code(77)
    created = submit(
        api,
        world,
        partners=[
            {"uscc": world["university"]["uscc"], "role": "university"},
            {"uscc": new_code, "name": "慈溪汽配行业协会", "kind": "association", "role": "other"},
        ],
    ).get_json()
    # Its own organisation by code is linked at once, with its real name.
    assert created["partners"][0] == {
        "organization_id": world["university"]["id"],
        "role": "university",
        "name": "宁波大学科学技术学院",
    }
    assert created["partners"][1]["organization_id"] is None
    with app.app_context(), db.database.connection_context():
        assert not Organization.select().where(Organization.uscc == new_code).exists()
    count = len(changes())
    approved = api.post(
        f"{REGS}/{created['id']}/approve", json={"status": "applying"}, token=world["admin"]
    )
    assert approved.status_code == 200, approved.get_json()
    data = approved.get_json()
    assert data["host_organization_id"] == world["enterprise"]["id"]
    assert data["host_organization"]["name"] == "公牛集团"
    with app.app_context(), db.database.connection_context():
        association = Organization.get(Organization.uscc == new_code)
        assert (association.name, association.kind) == ("慈溪汽配行业协会", "association")
    assert [p["organization_id"] for p in data["partners"]] == [
        world["university"]["id"],
        association.id,
    ]
    record = assert_one_record(changes, count, "review", app, "bureau admin")
    assert record["after"]["review"]["organizations_created"][0]["id"] == association.id
    # Now the enterprise's operator sees it as its own carrier.
    assert api.get(f"/api/v1/carriers/{created['id']}", token=world["operator"]).status_code == 200


def test_the_bureau_still_names_organisations_by_id(api, world):
    body = registration(world, host_organization_id=world["enterprise"]["id"])
    del body["host_uscc"], body["host_name"]
    response = api.post(REGS, json=body, token=world["admin"])
    assert response.status_code == 201, response.get_json().get("errors")
    assert response.get_json()["host_organization"]["name"] == "公牛集团"
    assert response.get_json()["submitted_by_organization_id"] is None


# --- only the submitting organisation edits and withdraws ----------------------------------


@pytest.fixture
def co_named(api, world, make_token):
    """A registration submitted for the university naming the enterprise by id: its
    principal acts for both, so the enterprise is linked and its partner reads it."""
    both = make_token(
        "partner", [world["university"]["id"], world["enterprise"]["id"]], name="联合申报人"
    )
    body = registration(
        world,
        host_organization_id=world["university"]["id"],
        partners=[{"organization_id": world["enterprise"]["id"], "role": "enterprise"}],
    )
    del body["host_uscc"], body["host_name"]
    response = api.post(REGS, json=body, token=both)
    assert response.status_code == 201, response.get_json().get("errors")
    return response


@pytest.mark.parametrize(
    "who,status",
    [
        ("enterprise_partner", 403),  # co-named: reads it, may not change it
        ("stranger", 404),
        ("operator", 403),
        ("viewer", 403),
        (None, 401),
    ],
)
def test_only_the_submitting_organisation_edits_or_withdraws(
    api, world, co_named, db_state, who, status
):
    reg = co_named.get_json()["id"]
    url = f"{REGS}/{reg}"
    token = world[who] if who else None
    if who == "enterprise_partner":
        assert api.get(url, token=token).status_code == 200
    etag = {"If-Match": co_named.headers["ETag"]}
    before = db_state()
    edit = api.patch(url, json={"name": "改名"}, token=token, headers=etag)
    remove = api.delete(url, token=token, headers=etag)
    assert (edit.status_code, remove.status_code) == (status, status)
    assert db_state() == before


def test_a_colleague_of_the_submitting_organisation_edits(api, world, co_named, changes, app):
    reg = co_named.get_json()["id"]
    count = len(changes())
    response = api.patch(
        f"{REGS}/{reg}",
        json={"description": "改"},
        token=world["colleague"],
        headers={"If-Match": co_named.headers["ETag"]},
    )
    assert response.status_code == 200, response.get_json()
    assert_one_record(changes, count, "update", app, "科院教务处")


def test_the_submitting_organisation_stays_named(api, world, co_named, db_state):
    before = db_state()
    # The university would be gone from host and partners.
    response = api.patch(
        f"{REGS}/{co_named.get_json()['id']}",
        json={
            "host_uscc": code(3),
            "host_name": "别家",
            "partners": [{"uscc": code(4), "name": "某校", "role": "university"}],
        },
        token=world["colleague"],
        headers={"If-Match": co_named.headers["ETag"]},
    )
    assert response.status_code == 403
    assert db_state() == before


def test_partner_withdraws_before_review(api, world, changes, app, rows):
    from registry.models import Carrier, OutboxEvent

    created = submit(api, world)
    url = f"{REGS}/{created.get_json()['id']}"
    assert api.delete(url, token=world["partner"]).status_code == 428
    stale = {"If-Match": f'"r{created.get_json()["id"]}-v9"'}
    assert api.delete(url, token=world["partner"], headers=stale).status_code == 412
    count = len(changes())
    events = rows(OutboxEvent)
    gone = api.delete(url, token=world["partner"], headers={"If-Match": created.headers["ETag"]})
    assert gone.status_code == 204
    record = assert_one_record(changes, count, "delete", app, "科院实践处")
    assert record["before"]["name"] == "公牛集团校企合作实习实践基地"
    assert rows(OutboxEvent) == events + 1
    assert rows(Carrier) == 0
    assert api.get(url, token=world["partner"]).status_code == 404


def test_no_withdrawal_after_review_and_the_partner_reads_the_outcome(api, world, db_state):
    created = submit(api, world)
    url = f"{REGS}/{created.get_json()['id']}"
    rejected = api.post(f"{url}/reject", json={"reason": "材料不全"}, token=world["admin"])
    assert rejected.status_code == 200
    seen = api.get(url, token=world["partner"]).get_json()
    assert (seen["status"], seen["review_comment"]) == ("rejected", "材料不全")
    assert seen["reviewed_by"] == "bureau admin" and seen["reviewed_at"]
    before = db_state()
    late = api.delete(url, token=world["partner"], headers={"If-Match": rejected.headers["ETag"]})
    assert late.status_code == 409
    assert db_state() == before


# --- annual reports and deadlines of an approved joint base --------------------------------


def test_partner_submits_reports_of_its_approved_base_and_sees_its_deadlines(
    api, world, db_state, changes, app
):
    reg = submit(api, world).get_json()["id"]
    reports = f"/api/v1/carriers/{reg}/annual-reports"
    body = {"year": 2024, "metrics": {"interns_hosted": 12}}
    before = db_state()
    assert api.post(reports, json=body, token=world["partner"]).status_code == 403
    assert db_state() == before
    approved = api.post(
        f"{REGS}/{reg}/approve",
        json={"status": "accredited", "occurred_on": "2024-06-01"},
        token=world["admin"],
    )
    assert approved.status_code == 200, approved.get_json()
    deadlines = api.get(
        f"/api/v1/deadlines?within=1000&include_overdue=true&kind=report&carrier_id={reg}",
        token=world["partner"],
    )
    assert deadlines.status_code == 200
    assert [d["carrier_id"] for d in deadlines.get_json()] == [reg]
    before = db_state()
    for who, status in (("stranger", 403), ("viewer", 403)):
        response = api.post(reports, json=body, token=world[who])
        assert response.status_code == status, (who, response.get_json())
        assert db_state() == before
    count = len(changes())
    response = api.post(reports, json=body, token=world["partner"])
    assert response.status_code == 201, response.get_json().get("errors")
    assert_one_record(changes, count, "create", app, "科院实践处")


# --- operators keep their organisation's address and contact --------------------------------


def test_operator_edits_its_organisations_address_and_contact(api, world, changes, app):
    url = f"{ORGS}/{world['enterprise']['id']}"
    etag = api.get(url, token=world["operator"]).headers["ETag"]
    count = len(changes())
    response = api.patch(
        url,
        json={"address": "慈溪市周巷镇", "contact": {"name": "李经理", "phone": "13800138000"}},
        token=world["operator"],
        headers={"If-Match": etag},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["address"] == "慈溪市周巷镇"
    assert_one_record(changes, count, "update", app, "公牛运营")


@pytest.mark.parametrize(
    "who,org,body,status",
    [
        ("operator", "enterprise", {"name": "新名", "address": "x"}, 403),
        ("operator", "enterprise", {"uscc": code(5)}, 403),
        ("operator", "other", {"address": "x"}, 404),
        ("enterprise_partner", "enterprise", {"address": "x"}, 403),
        ("viewer", "enterprise", {"address": "x"}, 403),
        (None, "enterprise", {"address": "x"}, 401),
    ],
)
def test_organisation_edits_refused(api, world, db_state, who, org, body, status):
    url = f"{ORGS}/{world[org]['id']}"
    etag = api.get(url, token=world["admin"]).headers["ETag"]
    before = db_state()
    response = api.patch(
        url, json=body, token=world[who] if who else None, headers={"If-Match": etag}
    )
    assert response.status_code == status, response.get_json()
    if status == 403 and who == "operator":
        for name in set(body) - {"address", "contact"}:
            assert name in response.get_json()["detail"]
    assert db_state() == before


# --- the audit trail names the actor by id ------------------------------------------------


def test_two_principals_with_one_name_are_told_apart(api, make_token):
    first = make_token("bureau_admin", name="张三")
    second = make_token("bureau_admin", name="张三")
    made = [
        api.post(ORGS, json={"name": f"组织{n}", "kind": "other"}, token=token).get_json()
        for n, token in enumerate((first, second))
    ]
    listed = api.get("/api/v1/changes?object_type=organization&actor=张三", token=first)
    ids = {c["object_id"]: c["actor_id"] for c in listed.get_json()}
    assert ids[made[0]["id"]] != ids[made[1]["id"]]
    assert None not in ids.values()
    only = api.get(f"/api/v1/changes?actor_id={ids[made[0]['id']]}", token=first).get_json()
    assert [c["object_id"] for c in only] == [made[0]["id"]]


# --- migration 7 ----------------------------------------------------------------------------


def test_migration_7_upgrades_a_database_made_before_it(tmp_path):
    """A database at version 6 gains the columns, and a partner's pending registration gets
    its submitting organisation back: the first of the submitter's organisations it names,
    host first."""
    from registry import create_app, schema
    from registry.models import Carrier, Change

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'old.db'}", "TESTING": True})
    with app.app_context(), db.database.connection_context():
        schema.upgrade(up_to=6)
        run = db.database.execute_sql
        now = "'2024-01-01'"
        run(
            "INSERT INTO organization (id, created_at, updated_at, name, kind, uscc_override, "
            f"version) VALUES (1, {now}, {now}, 'host', 'enterprise', 0, 1), "
            f"(2, {now}, {now}, 'school', 'university', 0, 1)"
        )
        run(
            "INSERT INTO principal (id, created_at, updated_at, name, role, organization_ids) "
            f"VALUES (5, {now}, {now}, 'p', 'partner', '[2]')"
        )
        run(
            "INSERT INTO carrier (id, created_at, updated_at, name, type, level, status, "
            "host_organization_id, attributes, initial_status, initial_level, submitted_by, "
            f"version) VALUES (9, {now}, {now}, 'base', 'joint_training_base', 'county', "
            "'submitted', 1, '{}', 'submitted', 'county', 5, 1)"
        )
        run(
            "INSERT INTO carrier_partner (created_at, updated_at, carrier_id, organization_id, "
            f"role) VALUES ({now}, {now}, 9, 2, 'university')"
        )
        assert schema.upgrade()[0] == 7
        assert Carrier.get_by_id(9).submitted_by_organization == 2
        assert "actor_id" in {c.name for c in db.database.get_columns("change")}
        assert Change.select().count() == 0
        assert schema.upgrade() == []


@pytest.mark.parametrize(
    "change",
    [{"host_organization_id": None}, {"host_uscc": ""}, {"host_name": "x"}, {"partners": []}],
)
def test_a_patch_cannot_unname_the_host(api, world, db_state, change):
    created = submit(api, world)
    before = db_state()
    response = api.patch(
        f"{REGS}/{created.get_json()['id']}",
        json=change,
        token=world["partner"],
        headers={"If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 422, response.get_json()
    assert db_state() == before
