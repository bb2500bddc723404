"""Validation a bureau would expect (issue 14 item 10): mainland phone numbers, whole-number
counts in reports, no future establishment dates, one carrier of a name per host, and no
full-year report before the year ends unless the bureau admin allows it."""

import datetime as dt

import pytest

from registry.models import AnnualReport, Carrier, Organization

CARRIERS = "/api/v1/carriers"


def local_today(app) -> dt.date:
    from registry.clock import today

    with app.app_context():
        return today()


# --- phone numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "13812345678",
        "+86 13812345678",
        "0574-63000001",
        "057463000001",
        "010-12345678",
        "0574-12345678",
        "0574-63000001-8001",
        "0574-63000001转8001",
    ],
)
def test_mainland_phone_numbers_are_accepted(api, admin, phone):
    response = api.post(
        "/api/v1/organizations",
        json={"name": "示例单位", "kind": "enterprise", "contact": {"phone": phone}},
        token=admin,
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["contact"]["phone"] == phone


@pytest.mark.parametrize(
    "phone", ["1", "0574-1234", "23812345678", "1381234567", "0574-03000001", "tel:110", "+1 555"]
)
def test_other_phone_numbers_are_422_with_both_forms_named(api, admin, rows, phone):
    before = rows(Organization)
    response = api.post(
        "/api/v1/organizations",
        json={"name": "示例单位", "kind": "enterprise", "contact": {"phone": phone}},
        token=admin,
    )
    assert response.status_code == 422
    (message,) = response.get_json()["errors"]["contact"]
    assert "mobile" in message and "0574-63000001" in message
    assert rows(Organization) == before


def test_carrier_contact_phone_is_checked_too(api, admin, carrier_factory, db_state):
    carrier = carrier_factory()
    etag = api.get(f"{CARRIERS}/{carrier['id']}", token=admin).headers["ETag"]
    before = db_state()
    response = api.patch(
        f"{CARRIERS}/{carrier['id']}",
        json={"contact": {"name": "王", "phone": "12345"}},
        token=admin,
        headers={"If-Match": etag},
    )
    assert response.status_code == 422
    assert db_state() == before


# --- established_on, duplicate names ---------------------------------------------------


def test_established_on_cannot_be_in_the_future(app, api, admin, org_factory, rows):
    tomorrow = local_today(app) + dt.timedelta(days=1)
    host = org_factory()
    before = rows(Carrier)
    response = api.post(
        CARRIERS,
        json={
            "name": "未来载体",
            "type": "maker_space",
            "level": "county",
            "host_organization_id": host["id"],
            "established_on": tomorrow.isoformat(),
        },
        token=admin,
    )
    assert response.status_code == 422
    assert "established_on" in response.get_json()["errors"]
    assert rows(Carrier) == before
    today = local_today(app).isoformat()
    response = api.post(
        CARRIERS,
        json={
            "name": "今天成立",
            "type": "maker_space",
            "level": "county",
            "host_organization_id": host["id"],
            "established_on": today,
        },
        token=admin,
    )
    assert response.status_code == 201


def test_a_second_carrier_of_a_name_under_one_host_is_409(
    api, admin, org_factory, carrier_factory, db_state
):
    host = org_factory()
    first = carrier_factory(name="示例技能大师工作室", host_organization_id=host["id"])
    before = db_state()
    again = api.post(
        CARRIERS,
        json={
            "name": "示例技能大师工作室",
            "type": "skill_master_studio",
            "level": "county",
            "host_organization_id": host["id"],
        },
        token=admin,
    )
    assert again.status_code == 409
    assert f"carrier {first['id']}" in again.get_json()["detail"]
    assert db_state() == before
    # Another host may use the name; renaming onto a taken name is refused as well.
    other = carrier_factory(name="示例技能大师工作室", host_organization_id=org_factory()["id"])
    second = carrier_factory(name="另一个工作室", host_organization_id=host["id"])
    etag = api.get(f"{CARRIERS}/{second['id']}", token=admin).headers["ETag"]
    renamed = api.patch(
        f"{CARRIERS}/{second['id']}",
        json={"name": "示例技能大师工作室"},
        token=admin,
        headers={"If-Match": etag},
    )
    assert renamed.status_code == 409
    moved = api.patch(
        f"{CARRIERS}/{other['id']}",
        json={"host_organization_id": host["id"]},
        token=admin,
        headers={"If-Match": api.get(f"{CARRIERS}/{other['id']}", token=admin).headers["ETag"]},
    )
    assert moved.status_code == 409
    # Editing a carrier without touching its name is not a conflict with itself.
    kept = api.patch(
        f"{CARRIERS}/{first['id']}",
        json={"name": "示例技能大师工作室", "description": "同名保存"},
        token=admin,
        headers={"If-Match": api.get(f"{CARRIERS}/{first['id']}", token=admin).headers["ETag"]},
    )
    assert kept.status_code == 200, kept.get_json()


# --- annual reports ---------------------------------------------------------------------


@pytest.fixture
def studio(api, admin, carrier_factory, record):
    carrier = carrier_factory(level="county")
    record(carrier["id"], "accredited", "2020-03-01")
    return carrier


def reports_url(carrier):
    return f"{CARRIERS}/{carrier['id']}/annual-reports"


def test_counts_must_be_whole_numbers_amounts_may_have_decimals(api, admin, studio, rows):
    before = rows(AnnualReport)
    response = api.post(
        reports_url(studio),
        json={"year": 2021, "metrics": {"apprentices_trained": 12.5, "trainees_trained": 30}},
        token=admin,
    )
    assert response.status_code == 422
    (message,) = response.get_json()["errors"]["metrics"]
    assert "apprentices_trained" in message and "whole number" in message
    assert rows(AnnualReport) == before
    whole = api.post(
        reports_url(studio),
        json={"year": 2021, "metrics": {"apprentices_trained": 12.0, "trainees_trained": 30}},
        token=admin,
    )
    assert whole.status_code == 201


def test_amounts_in_wan_may_have_decimals(api, admin, carrier_factory, record):
    park = carrier_factory(type="innovation_park", level="county")
    record(park["id"], "accredited", "2020-03-01")
    response = api.post(
        reports_url(park),
        json={"year": 2021, "metrics": {"output_value_wan": 1234.56, "jobs_created": 80}},
        token=admin,
    )
    assert response.status_code == 201, response.get_json()


def test_a_full_year_report_waits_for_the_year_to_end(
    app, api, admin, make_token, studio, rows, changes
):
    year = local_today(app).year
    before = rows(AnnualReport)
    refused = api.post(
        reports_url(studio), json={"year": year, "metrics": {"trainees_trained": 3}}, token=admin
    )
    assert refused.status_code == 422
    (message,) = refused.get_json()["errors"]["year"]
    assert f"{year + 1}-01-01" in message and "early_submission" in message
    assert rows(AnnualReport) == before
    # An operator of the carrier may not override the rule.
    operator = make_token("operator", [studio["host_organization_id"]])
    forbidden = api.post(
        reports_url(studio),
        json={"year": year, "metrics": {"trainees_trained": 3}, "early_submission": True},
        token=operator,
    )
    assert forbidden.status_code == 403
    assert rows(AnnualReport) == before
    # The bureau admin may, and the audit trail says so.
    allowed = api.post(
        reports_url(studio),
        json={"year": year, "metrics": {"trainees_trained": 3}, "early_submission": True},
        token=admin,
    )
    assert allowed.status_code == 201, allowed.get_json()
    assert "early_submission" not in allowed.get_json()
    record = [c for c in changes() if c["object_type"] == "annual_report"][-1]
    assert record["after"]["early_submission"] is True
    # Last year's report needs no override.
    last = api.post(
        reports_url(studio),
        json={"year": year - 1, "metrics": {"trainees_trained": 3}},
        token=admin,
    )
    assert last.status_code == 201
