"""Organisations over HTTP."""

BASE = "/api/v1/organizations"


def test_create_and_read_round_trips_chinese(api, admin):
    body = {
        "name": "宁波大学科学技术学院",
        "kind": "university",
        "town": "白沙路街道",
        "uscc": "91350100m000100y43",
        "address": "慈溪市白沙路街道",
        "contact": {"name": "王老师", "phone": "0574-63001234", "email": "wang@example.cn"},
    }
    created = api.post(BASE, json=body, token=admin)
    assert created.status_code == 201
    data = created.get_json()
    assert data["uscc"] == "91350100M000100Y43"  # normalised to upper case
    assert data["name"] == "宁波大学科学技术学院"
    assert "宁波大学" in created.get_data(as_text=True)  # not \u-escaped
    assert created.headers["ETag"] == f'"o{data["id"]}-v1"'
    fetched = api.get(f"{BASE}/{data['id']}", token=admin)
    assert fetched.status_code == 200
    assert fetched.get_json()["contact"]["name"] == "王老师"
    assert fetched.get_json()["created_at"].endswith("+08:00")


def test_validation_errors_are_problem_json(api, admin):
    response = api.post(
        BASE,
        token=admin,
        json={
            "name": "某企业",
            "kind": "enterprise",
            "uscc": "91350100M000100Y4Z",
            "town": "火星镇",
        },
    )
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == "about:blank"
    assert problem["title"] == "Unprocessable Entity"
    assert problem["status"] == 422
    assert problem["errors"]["uscc"] == ["Check character is 3, not Z (GB 32100-2015)."]
    assert problem["errors"]["town"] == ["Not a town or subdistrict of this city: 火星镇."]
    assert api.get(BASE, token=admin).headers["X-Total-Count"] == "0"


def test_required_fields(api, admin):
    problem = api.post(BASE, json={}, token=admin).get_json()
    assert set(problem["errors"]) == {"name", "kind"}


def test_unknown_kind_is_422(api, admin):
    response = api.post(BASE, json={"name": "x", "kind": "alien"}, token=admin)
    assert response.status_code == 422
    assert "kind" in response.get_json()["errors"]


def test_every_configured_town_is_accepted(api, admin):
    import json

    from registry.places import DEFAULT_TOWNS_FILE

    towns = [t["name"] for t in json.loads(DEFAULT_TOWNS_FILE.read_text("utf-8"))["towns"]]
    assert len(towns) == 20 and "陆中湾街道" in towns
    for town in towns:
        assert (
            api.post(
                BASE, json={"name": town, "kind": "other", "town": town}, token=admin
            ).status_code
            == 201
        )


def test_duplicate_uscc_is_409(api, admin, org_factory):
    org_factory(uscc="91350100M000100Y43")
    response = api.post(
        BASE, json={"name": "b", "kind": "enterprise", "uscc": "91350100M000100Y43"}, token=admin
    )
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"


def test_admin_override_accepts_failing_check_digit_and_audits_it(api, admin, app):
    response = api.post(
        BASE,
        json={
            "name": "试点企业",
            "kind": "enterprise",
            "uscc": "91350100M000100Y4A",
            "uscc_override": True,
        },
        token=admin,
    )
    assert response.status_code == 201
    from registry.db import database
    from registry.models import Change

    with app.app_context(), database.connection_context():
        change = Change.get(
            (Change.object_type == "organization") & (Change.object_id == response.get_json()["id"])
        )
        assert change.after["uscc_override"] is True


def test_patch_needs_if_match(api, admin, org_factory):
    org = org_factory()
    url = f"{BASE}/{org['id']}"
    assert api.patch(url, json={"name": "新"}, token=admin).status_code == 428
    stale = api.patch(url, json={"name": "新"}, token=admin, headers={"If-Match": '"o1-v0"'})
    assert stale.status_code == 412
    assert stale.content_type == "application/problem+json"
    etag = api.get(url, token=admin).headers["ETag"]
    ok = api.patch(url, json={"name": "新"}, token=admin, headers={"If-Match": etag})
    assert ok.status_code == 200
    assert ok.get_json()["name"] == "新"
    assert ok.headers["ETag"] != etag


def test_if_none_match_gives_304(api, admin, org_factory):
    org = org_factory()
    url = f"{BASE}/{org['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    assert api.get(url, token=admin, headers={"If-None-Match": etag}).status_code == 304


def test_delete_refused_while_hosting(api, admin, carrier_factory):
    carrier = carrier_factory()
    url = f"{BASE}/{carrier['host_organization_id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    response = api.delete(url, token=admin, headers={"If-Match": etag})
    assert response.status_code == 409
    assert api.get(url, token=admin).status_code == 200


def test_delete_free_organisation(api, admin, org_factory):
    org = org_factory()
    url = f"{BASE}/{org['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    assert api.delete(url, token=admin).status_code == 428
    assert api.delete(url, token=admin, headers={"If-Match": etag}).status_code == 204
    assert api.get(url, token=admin).status_code == 404


def test_list_filters_and_sort(api, admin, org_factory):
    org_factory(name="乙", kind="university", town="浒山街道")
    org_factory(name="甲", kind="enterprise", town="周巷镇")
    org_factory(name="丙", kind="enterprise", town="浒山街道")
    names = [
        o["name"] for o in api.get(f"{BASE}?kind=enterprise&sort=-name", token=admin).get_json()
    ]
    assert sorted(names, reverse=True) == names and set(names) == {"甲", "丙"}
    assert [o["name"] for o in api.get(f"{BASE}?town=周巷镇", token=admin).get_json()] == ["甲"]
    assert [o["name"] for o in api.get(f"{BASE}?q=丙", token=admin).get_json()] == ["丙"]
    assert api.get(f"{BASE}?kind=alien", token=admin).status_code == 422
    assert api.get(f"{BASE}?sort=secret", token=admin).status_code == 422


def test_unknown_id_and_huge_id_are_404(api, admin):
    assert api.get(f"{BASE}/999", token=admin).status_code == 404
    huge = api.get(f"{BASE}/{10**30}", token=admin)
    assert huge.status_code == 404
    assert huge.content_type == "application/problem+json"
