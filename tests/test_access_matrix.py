"""SPEC §6 as a matrix: every write endpoint × every role, with exact status codes.

A refused call must change nothing (every table compared before and after); an accepted one
must leave exactly one audit record naming the principal and its token.
"""

import pytest

from registry import db, uscc

ROLES = ["anonymous", "admin", "viewer", "operator_a", "partner_a"]

#: case -> (method, path template, body)
CASES = {
    "org_create": ("post", "/api/v1/organizations", {"name": "新组织", "kind": "other"}),
    "org_edit_a": ("patch", "/api/v1/organizations/{org_a}", {"address": "新地址"}),
    "org_edit_b": ("patch", "/api/v1/organizations/{org_b}", {"address": "新地址"}),
    "org_rename_a": ("patch", "/api/v1/organizations/{org_a}", {"name": "改名"}),
    "org_delete_spare": ("delete", "/api/v1/organizations/{org_spare}", None),
    "org_delete_a": ("delete", "/api/v1/organizations/{org_a}", None),
    "carrier_create": (
        "post",
        "/api/v1/carriers",
        {"name": "新载体", "type": "maker_space", "level": "county", "host_organization_id": 0},
    ),
    "carrier_edit_a_hidden": ("patch", "/api/v1/carriers/{a_hidden}", {"description": "改"}),
    "carrier_edit_a_public": ("patch", "/api/v1/carriers/{a_public}", {"description": "改"}),
    "carrier_edit_b_hidden": ("patch", "/api/v1/carriers/{b_hidden}", {"description": "改"}),
    "carrier_edit_b_public": ("patch", "/api/v1/carriers/{b_public}", {"description": "改"}),
    "carrier_edit_registration": ("patch", "/api/v1/carriers/{reg_a}", {"description": "改"}),
    "carrier_edit_a_level": ("patch", "/api/v1/carriers/{a_hidden}", {"level": "national"}),
    "carrier_edit_a_host": ("patch", "/api/v1/carriers/{a_hidden}", {"host_organization_id": 0}),
    "carrier_edit_a_partners": ("patch", "/api/v1/carriers/{a_hidden}", {"partners": []}),
    "carrier_delete_a_hidden": ("delete", "/api/v1/carriers/{a_hidden}", None),
    "carrier_delete_b_hidden": ("delete", "/api/v1/carriers/{b_hidden}", None),
    "carrier_delete_a_public": ("delete", "/api/v1/carriers/{a_public}", None),
    "token_create": ("post", "/api/v1/tokens", {"name": "新令牌", "role": "bureau_viewer"}),
    "token_revoke": ("delete", "/api/v1/tokens/{victim_token}", None),
    "registration_create_a": ("post", "/api/v1/registrations", "registration_a"),
    "registration_create_b": ("post", "/api/v1/registrations", "registration_b"),
    "registration_edit_a": ("patch", "/api/v1/registrations/{reg_a}", {"description": "改"}),
    "registration_edit_b": ("patch", "/api/v1/registrations/{reg_b}", {"description": "改"}),
    "registration_withdraw_a": ("delete", "/api/v1/registrations/{reg_a}", None),
    "registration_withdraw_b": ("delete", "/api/v1/registrations/{reg_b}", None),
    "registration_approve_a": (
        "post",
        "/api/v1/registrations/{reg_a}/approve",
        {"status": "accredited", "occurred_on": "2024-06-01"},
    ),
    "registration_reject_b": (
        "post",
        "/api/v1/registrations/{reg_b}/reject",
        {"reason": "材料不全"},
    ),
}

#: case -> status per role, in the order of ROLES.
EXPECTED = {
    "org_create": (401, 201, 403, 403, 403),
    "org_edit_a": (401, 200, 403, 200, 403),
    "org_edit_b": (401, 200, 403, 404, 403),
    "org_rename_a": (401, 200, 403, 403, 403),
    "org_delete_spare": (401, 204, 403, 403, 403),
    "org_delete_a": (401, 409, 403, 403, 403),
    "carrier_create": (401, 201, 403, 403, 403),
    "carrier_edit_a_hidden": (401, 200, 403, 200, 404),
    "carrier_edit_a_public": (401, 200, 403, 200, 403),
    "carrier_edit_b_hidden": (401, 200, 403, 404, 404),
    "carrier_edit_b_public": (401, 200, 403, 403, 403),
    # reg_a names org_a by credit code: pending review, org_a's operator does not see it.
    "carrier_edit_registration": (401, 200, 403, 404, 403),
    "carrier_edit_a_level": (401, 200, 403, 403, 404),
    "carrier_edit_a_host": (401, 200, 403, 403, 404),
    "carrier_edit_a_partners": (401, 200, 403, 403, 404),
    "carrier_delete_a_hidden": (401, 204, 403, 403, 403),
    "carrier_delete_b_hidden": (401, 204, 403, 403, 403),
    "carrier_delete_a_public": (401, 409, 403, 403, 403),
    "token_create": (401, 201, 403, 403, 403),
    "token_revoke": (401, 204, 403, 403, 403),
    "registration_create_a": (401, 201, 403, 403, 201),
    # partner A names uni_b by id: another organisation is named by credit code only.
    "registration_create_b": (401, 201, 403, 403, 422),
    "registration_edit_a": (401, 200, 403, 404, 200),
    "registration_edit_b": (401, 200, 403, 404, 404),
    "registration_withdraw_a": (401, 204, 403, 404, 204),
    "registration_withdraw_b": (401, 204, 403, 404, 404),
    "registration_approve_a": (401, 200, 403, 403, 403),
    "registration_reject_b": (401, 200, 403, 403, 403),
}

NAMES = {"admin": "bureau admin", "operator_a": "operator A", "partner_a": "partner A"}


def test_every_case_has_an_expectation_per_role():
    assert set(CASES) == set(EXPECTED)
    assert all(len(row) == len(ROLES) for row in EXPECTED.values())


@pytest.fixture
def world(app, api, admin, make_token, org_factory, carrier_factory, accredit):
    """Organisations A and B (each with a university), carriers of each (one hidden, one
    public), a registration of each, and a token of every role."""
    from registry.models import Token

    codes = {side: f"9133028200000000{n}" for n, side in enumerate("ab", start=1)}
    codes = {side: code + uscc.check_character(code) for side, code in codes.items()}
    org = {
        "org_a": org_factory(name="A企业", uscc=codes["a"]),
        "org_b": org_factory(name="B企业", uscc=codes["b"]),
        "uni_a": org_factory(name="A高校", kind="university"),
        "uni_b": org_factory(name="B高校", kind="university"),
        "org_spare": org_factory(name="闲置单位"),
    }
    ids = {key: value["id"] for key, value in org.items()}
    for side in ("a", "b"):
        host = ids[f"org_{side}"]
        ids[f"{side}_hidden"] = carrier_factory(host_organization_id=host)["id"]
        ids[f"{side}_public"] = carrier_factory(host_organization_id=host)["id"]
        accredit(ids[f"{side}_public"], "2024-01-10")
    tokens = {
        "anonymous": None,
        "admin": admin,
        "viewer": make_token("bureau_viewer", name="viewer"),
        "operator_a": make_token("operator", [ids["org_a"]], name="operator A"),
        "partner_a": make_token("partner", [ids["uni_a"]], name="partner A"),
    }
    partner_b = make_token("partner", [ids["uni_b"]], name="partner B")
    make_token("bureau_viewer", name="victim")
    with app.app_context(), db.database.connection_context():
        ids["victim_token"] = Token.get(Token.name == "victim").id
    bodies = {}
    for side, token in (("a", tokens["partner_a"]), ("b", partner_b)):
        bodies[f"registration_{side}"] = {
            "name": f"{side.upper()}校企基地",
            "level": "county",
            "host_uscc": codes[side],
            "host_name": f"{side.upper()}企业",
            "partners": [{"organization_id": ids[f"uni_{side}"], "role": "university"}],
            "contact": {"name": "联系人", "email": f"{side}@example.edu.cn"},
        }
        response = api.post(
            "/api/v1/registrations", json=bodies[f"registration_{side}"], token=token
        )
        assert response.status_code == 201
        ids[f"reg_{side}"] = response.get_json()["id"]
    return {"ids": ids, "tokens": tokens, "bodies": bodies}


def call(api, world, case, role):
    method, template, body = CASES[case]
    ids = world["ids"]
    if isinstance(body, str):
        # A second registration of the host: under another name (one name per host, 409).
        body = {**world["bodies"][body], "name": f"{world['bodies'][body]['name']}（二）"}
    elif body and "host_organization_id" in body:
        body = {**body, "host_organization_id": ids["org_b"]}
    kwargs = {"token": world["tokens"][role]}
    if method in ("patch", "delete"):
        kwargs["headers"] = {"If-Match": "*"}
    if body is not None:
        kwargs["json"] = body
    return getattr(api, method)(template.format(**ids), **kwargs)


@pytest.mark.parametrize("role", ROLES)
def test_refused_writes_have_exact_codes_and_change_nothing(api, world, db_state, role):
    index = ROLES.index(role)
    refused = [case for case, row in EXPECTED.items() if row[index] >= 400]
    assert refused
    for case in refused:
        before = db_state()
        response = call(api, world, case, role)
        assert response.status_code == EXPECTED[case][index], (case, response.get_json())
        assert response.content_type == "application/problem+json", case
        assert db_state() == before, case


SUCCESSES = [
    (case, role)
    for case, row in EXPECTED.items()
    for role, status in zip(ROLES, row, strict=True)
    if status < 400
]


@pytest.mark.parametrize("case,role", SUCCESSES)
def test_accepted_writes_leave_one_record_with_their_actor(
    api, world, db_state, changes, case, role
):
    count = len(changes())
    before = db_state()
    response = call(api, world, case, role)
    assert response.status_code == EXPECTED[case][ROLES.index(role)], response.get_json()
    new = changes()[count:]
    assert len(new) == 1, new
    assert new[0]["actor"] == NAMES[role]
    assert new[0]["actor_id"] is not None
    assert new[0]["token_name"] == NAMES[role]
    assert new[0]["before"] is not None or new[0]["after"] is not None
    assert db_state() != before
