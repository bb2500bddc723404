"""/alerts: filters, scope by role, acknowledgement (SPEC §3.3, §6)."""

import pytest

from registry.models import Alert, Change

BASE = "/api/v1/alerts"


@pytest.fixture
def two_orgs(org_factory, carrier_factory, accredit, scan_on, make_token):
    """Two organisations, each hosting an accredited carrier with alerts after a scan."""
    a, b = org_factory(name="甲公司"), org_factory(name="乙公司")
    county = carrier_factory(host_organization_id=a["id"], level="county")
    provincial = carrier_factory(
        host_organization_id=b["id"], level="provincial", type="expert_workstation"
    )
    accredit(county["id"], "2020-01-10")
    accredit(provincial["id"], "2020-01-10")
    scan_on("2021-01-20")  # county: evaluation overdue + report due; provincial: report due
    return {
        "a": a,
        "b": b,
        "county": county,
        "provincial": provincial,
        "operator_a": make_token("operator", [a["id"]]),
        "partner_a": make_token("partner", [a["id"]]),
    }


def listed(api, token, query=""):
    response = api.get(f"{BASE}{query}", token=token)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_bureau_lists_every_alert_soonest_first(api, viewer, two_orgs):
    alerts = listed(api, viewer)
    assert [(a["kind"], a["due_on"]) for a in alerts] == [
        ("evaluation_overdue", "2021-01-10"),
        ("report_due", "2021-03-31"),
        ("report_due", "2021-03-31"),
    ]
    first = alerts[0]
    assert first["carrier"]["id"] == two_orgs["county"]["id"]
    assert first["carrier"]["name"] == two_orgs["county"]["name"]
    assert (first["status"], first["days_left"], first["opened_on"]) == (
        "open",
        -10,
        "2021-01-20",
    )
    assert set(first) >= {"id", "carrier_id", "acknowledged_at", "resolved_on", "created_at"}


def test_operators_see_their_own_carriers_alerts(api, two_orgs):
    alerts = listed(api, two_orgs["operator_a"])
    assert {a["carrier_id"] for a in alerts} == {two_orgs["county"]["id"]}
    assert api.get(BASE).status_code == 401


def test_partners_see_only_their_submissions_alerts(api, two_orgs):
    # SPEC §6: a partner reads its own submissions, not every carrier its organisation hosts.
    assert listed(api, two_orgs["partner_a"]) == []


@pytest.mark.parametrize(
    "query,expected",
    [
        ("?kind=report_due", 2),
        ("?status=open", 3),
        ("?status=resolved", 0),
        ("?type=expert_workstation", 1),
        ("?level=county", 2),
        ("?level_min=provincial", 1),
        ("?due_before=2021-01-10", 1),
        ("?due_after=2021-01-11", 2),
        ("?q=示例载体", 3),
        ("?sort=-due_on&page_size=1", 1),
    ],
)
def test_alert_filters(api, viewer, two_orgs, query, expected):
    assert len(listed(api, viewer, query)) == expected


def test_filters_by_carrier_and_organisation(api, viewer, two_orgs):
    county = two_orgs["county"]["id"]
    assert {a["carrier_id"] for a in listed(api, viewer, f"?carrier_id={county}")} == {county}
    org_b = two_orgs["b"]["id"]
    assert {a["carrier_id"] for a in listed(api, viewer, f"?organization_id={org_b}")} == {
        two_orgs["provincial"]["id"]
    }


@pytest.mark.parametrize(
    "query", ["?kind=nonsense", "?status=closed", "?due_before=soon", "?carrier_id=0", "?sort=x"]
)
def test_bad_filters_are_422(api, viewer, two_orgs, query):
    response = api.get(f"{BASE}{query}", token=viewer)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"


def test_single_alert_has_an_etag(api, viewer, two_orgs):
    alert = listed(api, viewer)[0]
    response = api.get(f"{BASE}/{alert['id']}", token=viewer)
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"a{alert["id"]}-v1"'
    assert api.get(f"{BASE}/999999", token=viewer).status_code == 404


def test_operator_acknowledges_an_alert_of_its_own_carrier(api, two_orgs, scan_on, in_db):
    token = two_orgs["operator_a"]
    alert = listed(api, token)[0]
    response = api.post(f"{BASE}/{alert['id']}/acknowledge", token=token)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "acknowledged"
    assert body["acknowledged_at"] and body["acknowledged_by"].startswith("operator-")
    with in_db():
        change = Change.get((Change.object_type == "alert") & (Change.object_id == alert["id"]))
        assert change.before["status"] == "open" and change.after["status"] == "acknowledged"
    # Acknowledged alerts stay counted and keep moving with the scan until resolved.
    carrier = api.get(f"/api/v1/carriers/{alert['carrier_id']}", token=token).get_json()
    assert carrier["open_alert_count"] == 2
    scan_on("2021-01-21")
    again = api.get(f"{BASE}/{alert['id']}", token=token).get_json()
    assert (again["status"], again["days_left"]) == ("acknowledged", -11)


def test_acknowledging_twice_is_409_and_keeps_the_first(api, admin, two_orgs):
    alert = listed(api, admin)[0]
    first = api.post(f"{BASE}/{alert['id']}/acknowledge", token=admin).get_json()
    response = api.post(f"{BASE}/{alert['id']}/acknowledge", token=admin)
    assert response.status_code == 409
    assert "acknowledged" in response.get_json()["detail"]
    assert api.get(f"{BASE}/{alert['id']}", token=admin).get_json() == first


def test_acknowledging_a_resolved_alert_is_409(api, admin, two_orgs, in_db):
    alert = listed(api, admin)[0]
    with in_db():
        Alert.update(status="resolved").where(Alert.id == alert["id"]).execute()
    assert api.post(f"{BASE}/{alert['id']}/acknowledge", token=admin).status_code == 409


@pytest.mark.parametrize("who,status", [("viewer", 403), ("partner_a", 404), ("other", 404)])
def test_who_may_not_acknowledge(
    api, viewer, make_token, org_factory, two_orgs, in_db, who, status
):
    tokens = {
        "viewer": viewer,
        "partner_a": two_orgs["partner_a"],
        "other": make_token("operator", [org_factory()["id"]]),
    }
    alert = listed(api, viewer)[0]
    with in_db():
        changes = Change.select().count()
    response = api.post(f"{BASE}/{alert['id']}/acknowledge", token=tokens[who])
    assert response.status_code == status
    assert api.get(f"{BASE}/{alert['id']}", token=viewer).get_json()["status"] == "open"
    with in_db():
        assert Change.select().count() == changes


def test_operator_cannot_acknowledge_another_orgs_alert(api, viewer, two_orgs):
    theirs = listed(api, viewer, f"?carrier_id={two_orgs['provincial']['id']}")[0]
    response = api.post(f"{BASE}/{theirs['id']}/acknowledge", token=two_orgs["operator_a"])
    assert response.status_code == 404


def test_resolved_alerts_stay_readable(api, viewer, two_orgs, scan_on):
    scan_on("2021-04-01")  # report_due gives way to report_overdue
    resolved = listed(api, viewer, "?status=resolved")
    assert {a["kind"] for a in resolved} == {"report_due"}
    assert all(a["resolved_on"] == "2021-04-01" for a in resolved)
