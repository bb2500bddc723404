"""Carriers over HTTP: create, read, filters, sort, pagination, edits, deletes."""

import pytest

from registry.vocabulary import LEVELS

BASE = "/api/v1/carriers"


def test_create_carrier_starts_applying(api, admin, org_factory):
    host = org_factory(name="公牛集团")
    partner = org_factory(name="宁波大学科学技术学院", kind="university")
    response = api.post(
        BASE,
        token=admin,
        json={
            "name": "示例技能大师工作室",
            "type": "skill_master_studio",
            "level": "provincial",
            "host_organization_id": host["id"],
            "town": "周巷镇",
            "tags": ["汽配", "汽配"],
            "partners": [{"organization_id": partner["id"], "role": "university"}],
            "attributes": {"工位": 12},
            "contact": {"name": "李师傅"},
            "lead_person": "李师傅",
            "established_on": "2018-03-01",
        },
    )
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["status"] == "applying"
    assert data["host_organization"] == {"id": host["id"], "name": "公牛集团", "uscc": None}
    assert data["partners"] == [
        {"organization_id": partner["id"], "role": "university", "name": "宁波大学科学技术学院"}
    ]
    assert data["tags"] == ["汽配"]
    assert data["attributes"] == {"工位": 12}
    assert data["open_alert_count"] == 0
    assert data["accredited_on"] is None and data["next_evaluation_on"] is None
    assert response.headers["Location"] == f"{BASE}/{data['id']}"


@pytest.mark.parametrize(
    "field,value",
    [
        ("status", "accredited"),
        ("accredited_on", "2020-01-01"),
        ("certificate_no", "X"),
        ("open_alert_count", 3),
        ("next_report_due_on", "2020-01-01"),
    ],
)
def test_read_only_fields_are_refused(api, admin, org_factory, field, value):
    host = org_factory()
    response = api.post(
        BASE,
        token=admin,
        json={
            "name": "x",
            "type": "maker_space",
            "level": "county",
            "host_organization_id": host["id"],
            field: value,
        },
    )
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_status_cannot_be_patched(api, admin, carrier_factory):
    carrier = carrier_factory()
    url = f"{BASE}/{carrier['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    response = api.patch(
        url, json={"status": "accredited"}, token=admin, headers={"If-Match": etag}
    )
    assert response.status_code == 422
    assert api.get(url, token=admin).get_json()["status"] == "applying"


def test_unknown_host_is_422_and_writes_nothing(api, admin):
    response = api.post(
        BASE,
        token=admin,
        json={"name": "x", "type": "maker_space", "level": "county", "host_organization_id": 4242},
    )
    assert response.status_code == 422
    assert "host_organization_id" in response.get_json()["errors"]
    assert api.get(BASE, token=admin).headers["X-Total-Count"] == "0"


def test_huge_integer_is_422_not_500(api, admin):
    response = api.post(
        BASE,
        token=admin,
        json={
            "name": "x",
            "type": "maker_space",
            "level": "county",
            "host_organization_id": 10**30,
        },
    )
    assert response.status_code == 422


def test_patch_with_etag_versions(api, admin, carrier_factory):
    carrier = carrier_factory()
    url = f"{BASE}/{carrier['id']}"
    first = api.get(url, token=admin)
    assert first.headers["ETag"] == f'"c{carrier["id"]}-v1"'
    assert api.patch(url, json={"description": "新描述"}, token=admin).status_code == 428
    stale = api.patch(
        url, json={"description": "新"}, token=admin, headers={"If-Match": f'"c{carrier["id"]}-v0"'}
    )
    assert stale.status_code == 412
    ok = api.patch(
        url,
        json={"description": "新描述", "tags": ["甲", "乙"]},
        token=admin,
        headers={"If-Match": first.headers["ETag"]},
    )
    assert ok.status_code == 200
    assert ok.headers["ETag"] == f'"c{carrier["id"]}-v2"'
    assert ok.get_json()["tags"] == ["甲", "乙"]
    again = api.patch(
        url, json={"description": "x"}, token=admin, headers={"If-Match": first.headers["ETag"]}
    )
    assert again.status_code == 412


def test_override_of_next_evaluation_wins_and_clears(api, admin, carrier_factory, accredit):
    carrier = carrier_factory(level="municipal")
    accredit(carrier["id"], "2024-02-29")
    url = f"{BASE}/{carrier['id']}"
    data = api.get(url, token=admin).get_json()
    assert data["next_evaluation_on"] == "2027-02-28"  # 3-year cycle from a leap day
    etag = api.get(url, token=admin).headers["ETag"]
    patched = api.patch(
        url, json={"next_evaluation_on": "2026-12-31"}, token=admin, headers={"If-Match": etag}
    )
    assert patched.get_json()["next_evaluation_on"] == "2026-12-31"
    cleared = api.patch(
        url,
        json={"next_evaluation_on": None},
        token=admin,
        headers={"If-Match": patched.headers["ETag"]},
    )
    assert cleared.get_json()["next_evaluation_on"] == "2027-02-28"


def test_level_of_accredited_carrier_changes_only_by_milestone(
    api, admin, carrier_factory, accredit
):
    carrier = carrier_factory()
    accredit(carrier["id"], "2024-01-10")
    url = f"{BASE}/{carrier['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    response = api.patch(url, json={"level": "national"}, token=admin, headers={"If-Match": etag})
    assert response.status_code == 409
    assert api.get(url, token=admin).get_json()["level"] == "county"


def test_delete_rules(api, admin, carrier_factory, accredit):
    fresh = carrier_factory()
    url = f"{BASE}/{fresh['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    assert api.delete(url, token=admin, headers={"If-Match": etag}).status_code == 204
    assert api.get(url, token=admin).status_code == 404
    accredited = carrier_factory()
    accredit(accredited["id"], "2024-01-10")
    url = f"{BASE}/{accredited['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    assert api.delete(url, token=admin, headers={"If-Match": etag}).status_code == 409


@pytest.fixture
def catalogue(carrier_factory, org_factory, accredit):
    """A small registry to filter: three studios, a park and a maker space."""
    host = org_factory(name="宿主甲")
    other = org_factory(name="宿主乙")
    made = {
        "a": carrier_factory(
            name="甲工作室",
            level="provincial",
            town="周巷镇",
            tags=["汽配"],
            host_organization_id=host["id"],
        ),
        "b": carrier_factory(
            name="乙工作室", level="municipal", town="浒山街道", host_organization_id=host["id"]
        ),
        "c": carrier_factory(
            name="丙工作室",
            level="county",
            town="周巷镇",
            tags=["汽配", "电工"],
            host_organization_id=other["id"],
        ),
        "p": carrier_factory(
            name="英才创业园",
            type="innovation_park",
            level="national",
            host_organization_id=other["id"],
            partners=[{"organization_id": host["id"], "role": "co_host"}],
        ),
        "m": carrier_factory(
            name="众创空间", type="maker_space", level="county", host_organization_id=other["id"]
        ),
    }
    accredit(made["a"]["id"], "2023-05-01")
    accredit(made["b"]["id"], "2024-05-01")
    accredit(made["p"]["id"], "2022-01-15")
    return {"host": host, "other": other, **made}


def names(response):
    assert response.status_code == 200, response.get_json()
    return sorted(item["name"] for item in response.get_json())


@pytest.mark.parametrize(
    "query,expected",
    [
        ("type=skill_master_studio", ["丙工作室", "乙工作室", "甲工作室"]),
        ("level=county", ["丙工作室", "众创空间"]),
        ("level_min=municipal", ["乙工作室", "甲工作室", "英才创业园"]),
        ("level_min=national", ["英才创业园"]),
        ("status=accredited", ["乙工作室", "甲工作室", "英才创业园"]),
        ("status=applying", ["丙工作室", "众创空间"]),
        ("town=周巷镇", ["丙工作室", "甲工作室"]),
        ("tag=汽配", ["丙工作室", "甲工作室"]),
        ("tag=电工", ["丙工作室"]),
        ("q=工作室", ["丙工作室", "乙工作室", "甲工作室"]),
        ("type=skill_master_studio&level_min=municipal", ["乙工作室", "甲工作室"]),
        ("evaluation_due_before=2026-06-01", ["甲工作室", "英才创业园"]),
    ],
)
def test_list_filters(api, admin, catalogue, query, expected):
    assert names(api.get(f"{BASE}?{query}", token=admin)) == sorted(expected)


def test_organization_filter_covers_host_and_partner(api, admin, catalogue):
    host = catalogue["host"]["id"]
    assert names(api.get(f"{BASE}?organization_id={host}", token=admin)) == sorted(
        ["甲工作室", "乙工作室", "英才创业园"]
    )


@pytest.mark.parametrize(
    "query",
    [
        "type=spaceship",
        "level=galactic",
        "level_min=x",
        "status=dreaming",
        "town=火星镇",
        "sort=password",
        "sort=-name,bogus",
        "organization_id=abc",
        "evaluation_due_before=2020-13-01",
        "page=0",
        "page_size=0",
        "page_size=101",
        "page=abc",
        f"page={10**30}",
    ],
)
def test_bad_list_parameters_are_422(api, admin, query):
    response = api.get(f"{BASE}?{query}", token=admin)
    assert response.status_code == 422, query
    assert response.content_type == "application/problem+json"
    assert response.get_json()["errors"]


def test_sort(api, admin, catalogue):
    ordered = [c["name"] for c in api.get(f"{BASE}?sort=-accredited_on", token=admin).get_json()]
    assert ordered[:3] == ["乙工作室", "甲工作室", "英才创业园"]
    by_level = [c["level"] for c in api.get(f"{BASE}?sort=level,name", token=admin).get_json()]
    # Rank order (national first), not alphabetical.
    assert by_level == sorted(by_level, key=LEVELS.index)


def test_pagination_headers(api, admin, catalogue):
    response = api.get(f"{BASE}?sort=name&page=2&page_size=2", token=admin)
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "5"
    assert len(response.get_json()) == 2
    link = response.headers["Link"]
    assert 'page=1&page_size=2>; rel="first"' in link
    assert 'page=1&page_size=2>; rel="prev"' in link
    assert 'page=3&page_size=2>; rel="next"' in link
    assert 'page=3&page_size=2>; rel="last"' in link
    assert "sort=name" in link


def test_page_past_the_end_is_empty(api, admin, catalogue):
    response = api.get(f"{BASE}?page=9&page_size=2", token=admin)
    assert response.status_code == 200
    assert response.get_json() == []
    assert response.headers["X-Total-Count"] == "5"
    assert 'rel="next"' not in response.headers["Link"]


def test_list_runs_constant_queries_and_fetches_one_page(
    api, admin, carrier_factory, org_factory, accredit, count_queries
):
    partner = org_factory()
    for index in range(30):
        made = carrier_factory(
            tags=["甲", "乙"], partners=[{"organization_id": partner["id"], "role": "enterprise"}]
        )
        if index % 2:
            accredit(made["id"], "2024-01-01")

    def run(size):
        count_queries.statements.clear()
        response = api.get(f"{BASE}?page_size={size}", token=admin)
        assert len(response.get_json()) == size
        return list(count_queries.statements)

    small, large = run(2), run(25)
    assert len(small) == len(large)
    page_query = next(sql for sql in large if 'FROM "carrier"' in sql and "LIMIT" in sql)
    assert "LIMIT" in page_query


def test_anonymous_sees_only_accredited_public_fields(api, catalogue):
    response = api.get(BASE)
    assert response.status_code == 200
    assert names(response) == ["乙工作室", "甲工作室", "英才创业园"]
    assert response.headers["X-Total-Count"] == "3"
    for item in response.get_json():
        assert "contact" not in item and "attributes" not in item
    hidden = catalogue["c"]["id"]
    assert api.get(f"{BASE}/{hidden}").status_code == 404


def test_stats_groups(api, admin, catalogue):
    stats = api.get("/api/v1/stats/carriers?group_by=type,level", token=admin).get_json()
    assert stats["total"] == 5
    assert {"type": "skill_master_studio", "level": "provincial", "count": 1} in stats["groups"]
    by_status = api.get(
        "/api/v1/stats/carriers?group_by=status&type=skill_master_studio", token=admin
    ).get_json()
    assert by_status == {
        "total": 3,
        "groups": [{"status": "applying", "count": 1}, {"status": "accredited", "count": 2}],
    }
    assert api.get("/api/v1/stats/carriers?group_by=colour", token=admin).status_code == 422
    town = api.get("/api/v1/stats/carriers?group_by=town&tag=汽配", token=admin).get_json()
    assert town == {"total": 2, "groups": [{"town": "周巷镇", "count": 2}]}


def test_partner_without_organisation_is_422_on_create_and_patch(api, admin, carrier_factory):
    carrier = carrier_factory()
    url = f"{BASE}/{carrier['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    bad = [{"role": "other"}]
    created = api.post(
        BASE,
        token=admin,
        json={
            "name": "x",
            "type": "maker_space",
            "level": "county",
            "host_organization_id": carrier["host_organization_id"],
            "partners": bad,
        },
    )
    assert created.status_code == 422
    assert created.get_json()["errors"]["partners"] == [
        "0.organization_id: Missing data for required field."
    ]
    patched = api.patch(url, json={"partners": bad}, token=admin, headers={"If-Match": etag})
    assert patched.status_code == 422
    assert api.get(url, token=admin).headers["ETag"] == etag


def test_nested_contact_errors_are_flat_strings(api, admin, org_factory):
    response = api.post(
        "/api/v1/organizations", token=admin, json={"name": "x", "kind": "other", "contact": [None]}
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert all(isinstance(m, str) for messages in errors.values() for m in messages)
    assert "contact" in errors


def test_a_carriers_own_report_due_day_wins_over_its_policy(
    api, admin, make_token, carrier_factory, record, db_state
):
    """``report_due`` (bureau only) replaces the policy's due day for one carrier."""
    carrier = carrier_factory(level="county")
    record(carrier["id"], "accredited", "2022-05-01")
    url = f"/api/v1/carriers/{carrier['id']}"
    shown = api.get(url, token=admin)
    assert shown.get_json()["report_due"] is None
    assert shown.get_json()["next_report_due_on"] == "2023-03-31"
    operator = make_token("operator", [carrier["host_organization_id"]])
    before = db_state()
    for body, token, status in (
        ({"report_due": "06-30"}, operator, 403),
        ({"report_due": "13-01"}, admin, 422),
        ({"report_due": "6-30"}, admin, 422),
    ):
        answer = api.patch(url, json=body, token=token, headers={"If-Match": shown.headers["ETag"]})
        assert answer.status_code == status, answer.get_json()
    assert db_state() == before
    changed = api.patch(
        url, json={"report_due": "06-30"}, token=admin, headers={"If-Match": shown.headers["ETag"]}
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["report_due"] == "06-30"
    assert changed.get_json()["next_report_due_on"] == "2023-06-30"
    cleared = api.patch(
        url, json={"report_due": None}, token=admin, headers={"If-Match": changed.headers["ETag"]}
    )
    assert cleared.get_json()["next_report_due_on"] == "2023-03-31"
