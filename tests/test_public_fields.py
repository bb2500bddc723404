"""What the public and outsiders see of carriers: public fields only, on every field, and list
totals that agree with what each role is shown."""

import json

import pytest

from registry.access import PUBLIC_CARRIER_FIELDS

BASE = "/api/v1/carriers"
SECRET = {
    "contact": {"name": "秘密联系人", "phone": "13800000000", "email": "secret@example.cn"},
    "attributes": {"内部备注": "秘密属性值"},
    "lead_person": "秘密负责人",
}


@pytest.fixture
def full_carrier(api, admin, carrier_factory, org_factory, accredit):
    """An accredited carrier with every writable field set, and its full admin view."""
    host = org_factory(name="宿主", contact={"name": "宿主联系人", "phone": "0574-63000001"})
    partner = org_factory(name="伙伴", kind="university")
    carrier = carrier_factory(
        name="全字段工作室",
        host_organization_id=host["id"],
        partners=[{"organization_id": partner["id"], "role": "university"}],
        town="周巷镇",
        tags=["汽配"],
        description="公开介绍",
        established_on="2018-03-01",
        **SECRET,
    )
    accredit(carrier["id"], "2024-01-10", certificate_no="ZJ-2024-001")
    url = f"{BASE}/{carrier['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    api.patch(
        url, json={"next_evaluation_on": "2026-12-31"}, token=admin, headers={"If-Match": etag}
    )
    full = api.get(url, token=admin).get_json()
    return full


def every_field():
    from schemas.carriers import CarrierSchema

    # ``as_of`` is only in point-in-time answers, which echo the date asked for.
    return sorted(set(CarrierSchema().fields) - {"as_of"})


@pytest.mark.parametrize("field", every_field())
def test_anonymous_never_gets_a_non_public_field(api, full_carrier, make_token, org_factory, field):
    assert field in full_carrier, field
    outsider = make_token("operator", [org_factory()["id"]])
    for token in (None, outsider):
        listed = api.get(BASE, token=token)
        detail = api.get(f"{BASE}/{full_carrier['id']}", token=token)
        [item] = listed.get_json()
        for shown, text in (
            (item, listed.get_data(as_text=True)),
            (detail.get_json(), detail.get_data(as_text=True)),
        ):
            if field in PUBLIC_CARRIER_FIELDS:
                assert shown[field] == full_carrier[field], field
            else:
                assert field not in shown, field
                value = full_carrier[field]
                # Text and documents must not surface under another key; a small number (an
                # alert count) is no fingerprint: its digits stand in any date of the body.
                if isinstance(value, str | dict | list) and value:
                    assert json.dumps(value, ensure_ascii=False).strip('"') not in text, field


def test_public_view_is_exactly_the_public_fields(api, full_carrier):
    [item] = api.get(BASE).get_json()
    assert set(item) == PUBLIC_CARRIER_FIELDS
    text = api.get(BASE).get_data(as_text=True)
    for secret in ("秘密", "13800000000", "secret@example.cn", "宿主联系人"):
        assert secret not in text


def test_non_public_dates_cannot_be_probed_by_filters(
    api, admin, full_carrier, make_token, org_factory
):
    """Filters on hidden dates are the bureau's (issue 9): everyone else gets a 403 naming
    the field, whatever the carriers hold, so no answer depends on a hidden date."""
    due = "evaluation_due_before=2027-01-01"
    assert api.get(f"{BASE}?{due}", token=admin).headers["X-Total-Count"] == "1"
    outsider = make_token("operator", [org_factory()["id"]])
    owner = make_token("operator", [full_carrier["host_organization_id"]])
    for token in (None, outsider, owner):
        for url in (f"{BASE}?{due}", f"/api/v1/stats/carriers?group_by=type&{due}"):
            response = api.get(url, token=token)
            assert response.status_code == 403
            assert response.get_json()["errors"] == {
                "evaluation_due_before": [
                    "Filtering by next_evaluation_on is for the bureau only: it is not public."
                ]
            }
        for sort in ("next_evaluation_on", "-next_report_due_on"):
            assert api.get(f"{BASE}?sort={sort}", token=token).status_code == 403


def test_hidden_values_order_only_the_bureau_list(api, admin, carrier_factory, accredit):
    """The bureau sorts by a non-public date; the public may not (403, not a silent order)."""
    for name, due in (("乙", "2030-01-01"), ("甲", "2026-01-01"), ("丙", "2028-01-01")):
        carrier = carrier_factory(name=name)
        accredit(carrier["id"], "2024-01-10")
        url = f"{BASE}/{carrier['id']}"
        etag = api.get(url, token=admin).headers["ETag"]
        api.patch(url, json={"next_evaluation_on": due}, token=admin, headers={"If-Match": etag})
    by_due = [c["name"] for c in api.get(f"{BASE}?sort=next_evaluation_on", token=admin).get_json()]
    assert by_due == ["甲", "丙", "乙"]
    refused = api.get(f"{BASE}?sort=next_evaluation_on")
    assert refused.status_code == 403
    assert "next_evaluation_on" in refused.get_json()["detail"]


@pytest.fixture
def registry_of_two(api, admin, make_token, org_factory, carrier_factory, accredit):
    """Two organisations, each with an accredited and an applying carrier, and a registration."""
    orgs = [org_factory(name="甲方"), org_factory(name="乙方")]
    uni = org_factory(name="高校", kind="university")
    for org in orgs:
        accredited = carrier_factory(host_organization_id=org["id"])
        accredit(accredited["id"], "2024-01-10")
        carrier_factory(host_organization_id=org["id"])
    partner = make_token("partner", [uni["id"]])
    # Submitted by the bureau, which names organisations by id (a partner names another
    # organisation by credit code, and it stays out of that organisation's view until review).
    registered = api.post(
        "/api/v1/registrations",
        token=admin,
        json={
            "name": "校企基地",
            "level": "county",
            "host_organization_id": orgs[0]["id"],
            "partners": [{"organization_id": uni["id"], "role": "university"}],
            "contact": {"name": "王", "phone": "13900000001"},
        },
    )
    assert registered.status_code == 201, registered.get_json()
    return {
        "anonymous": (None, 2),
        "admin": (admin, 5),
        "viewer": (make_token("bureau_viewer"), 5),
        "operator": (make_token("operator", [orgs[0]["id"]]), 4),  # 2 public + own applying + reg
        "partner": (partner, 3),  # 2 public + its submission
    }


@pytest.mark.parametrize("role", ["anonymous", "admin", "viewer", "operator", "partner"])
def test_list_totals_agree_with_what_each_role_sees(api, registry_of_two, role):
    token, expected = registry_of_two[role]
    for page_size in (1, 100):
        response = api.get(f"{BASE}?page_size={page_size}", token=token)
        assert response.headers["X-Total-Count"] == str(expected)
    items = api.get(f"{BASE}?page_size=100", token=token).get_json()
    assert len(items) == expected
    stats = api.get("/api/v1/stats/carriers?group_by=status", token=token).get_json()
    assert stats["total"] == expected
    for status in ("accredited", "applying", "submitted"):
        filtered = api.get(f"{BASE}?status={status}&page_size=100", token=token)
        shown = [item for item in items if item["status"] == status]
        assert filtered.headers["X-Total-Count"] == str(len(shown))
        assert len(filtered.get_json()) == len(shown)
