"""Evaluation policies (SPEC §3.1): seeded defaults, validation, and edits that move the
derived dates of the carriers they govern."""

import json
from pathlib import Path

import pytest

from registry.models import Change, EvaluationPolicy
from registry.vocabulary import CARRIER_TYPES, LEVELS

BASE = "/api/v1/evaluation-policies"
DEFAULTS = json.loads(
    (Path(__file__).resolve().parent.parent / "fixtures" / "policies.json").read_text("utf-8")
)


def test_every_type_and_level_has_a_default_with_a_note(api, viewer):
    response = api.get(f"{BASE}?page_size=100", token=viewer)
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == str(len(CARRIER_TYPES) * len(LEVELS))
    listed = response.get_json()
    assert [(p["type"], p["level"]) for p in listed] == [
        (carrier_type, level) for carrier_type in CARRIER_TYPES for level in LEVELS
    ]
    for policy in listed:
        assert policy["note"] and len(policy["note"]) > 20
        assert policy["warn_days"] == [90, 30, 7]


def test_list_filters(api, viewer):
    studios = api.get(f"{BASE}?type=skill_master_studio", token=viewer).get_json()
    assert [p["level"] for p in studios] == LEVELS
    assert [p["annual_assessment"] for p in studios] == [False, False, False, True]
    national = api.get(f"{BASE}?level=national&page_size=2&page=2", token=viewer)
    assert national.headers["X-Total-Count"] == str(len(CARRIER_TYPES))
    assert [p["type"] for p in national.get_json()] == list(CARRIER_TYPES)[2:4]
    assert api.get(f"{BASE}?type=spaceship", token=viewer).status_code == 422
    assert api.get(BASE).status_code == 401


def test_get_one_with_etag(api, make_token, org_factory):
    operator = make_token("operator", [org_factory()["id"]])
    response = api.get(f"{BASE}/maker_space/provincial", token=operator)
    assert response.status_code == 200
    body = response.get_json()
    assert body["term_years"] is None and body["report_due"] == "08-31"
    assert body["annual_assessment"] is True
    etag = response.headers["ETag"]
    assert etag == f'"p{body["id"]}-v1"'
    cached = api.get(
        f"{BASE}/maker_space/provincial", token=operator, headers={"If-None-Match": etag}
    )
    assert cached.status_code == 304
    assert api.get(f"{BASE}/maker_space/galactic", token=operator).status_code == 404
    assert api.get(f"{BASE}/spaceship/county", token=operator).status_code == 404
    assert api.get(f"{BASE}/maker_space/county").status_code == 401


def patch(api, token, path, body, etag=None):
    etag = etag or api.get(f"{BASE}/{path}", token=token).headers["ETag"]
    return api.patch(f"{BASE}/{path}", json=body, token=token, headers={"If-Match": etag})


@pytest.mark.parametrize(
    "body,field",
    [
        ({"report_due": "02-30"}, "report_due"),
        ({"report_due": "13-01"}, "report_due"),
        ({"report_due": "3-31"}, "report_due"),
        ({"report_due": "03/31"}, "report_due"),
        ({"report_due": 331}, "report_due"),
        ({"warn_days": []}, "warn_days"),
        ({"warn_days": [30, 90]}, "warn_days"),
        ({"warn_days": [30, 30]}, "warn_days"),
        ({"warn_days": [30, 0]}, "warn_days"),
        ({"warn_days": [-7]}, "warn_days"),
        ({"warn_days": [90, "30"]}, "warn_days"),
        ({"warn_days": [10**30]}, "warn_days"),
        ({"warn_days": None}, "warn_days"),
        ({"term_years": 0}, "term_years"),
        ({"term_years": -3}, "term_years"),
        ({"term_years": 2.5}, "term_years"),
        ({"term_years": 10**30}, "term_years"),
        ({"annual_assessment": "maybe"}, "annual_assessment"),
        ({"type": "maker_space"}, "type"),
    ],
)
def test_bad_edits_are_422_and_change_nothing(api, admin, rows, body, field):
    before = api.get(f"{BASE}/skill_master_studio/county", token=admin).get_json()
    response = patch(api, admin, "skill_master_studio/county", body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert api.get(f"{BASE}/skill_master_studio/county", token=admin).get_json() == before
    assert rows(Change, Change.object_type == "evaluation_policy") == 0


def test_good_edits(api, admin):
    response = patch(
        api, admin, "skill_master_studio/county", {"report_due": "02-29", "warn_days": [60, 14, 1]}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["report_due"] == "02-29"
    assert response.headers["ETag"].endswith('-v2"')
    cleared = patch(
        api, admin, "skill_master_studio/county", {"term_years": None, "report_due": None}
    )
    assert cleared.get_json()["term_years"] is None and cleared.get_json()["report_due"] is None


def test_edits_need_the_admin_and_a_fresh_etag(api, admin, viewer, make_token, org_factory):
    path = f"{BASE}/expert_workstation/county"
    etag = api.get(path, token=admin).headers["ETag"]
    operator = make_token("operator", [org_factory()["id"]])
    for token, code in ((viewer, 403), (operator, 403), (None, 401)):
        assert (
            api.patch(
                path, json={"term_years": 4}, token=token, headers={"If-Match": etag}
            ).status_code
            == code
        )
    assert api.patch(path, json={"term_years": 4}, token=admin).status_code == 428
    assert (
        api.patch(path, json={"term_years": 4}, token=admin, headers={"If-Match": etag}).status_code
        == 200
    )
    stale = api.patch(path, json={"term_years": 5}, token=admin, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert api.get(path, token=admin).get_json()["term_years"] == 4


def test_put_replaces_every_rule(api, admin):
    path = f"{BASE}/joint_training_base/county"
    etag = api.get(path, token=admin).headers["ETag"]
    partial = api.put(path, json={"term_years": 2}, token=admin, headers={"If-Match": etag})
    assert partial.status_code == 422
    assert {"annual_assessment", "report_due", "warn_days"} <= set(partial.get_json()["errors"])
    body = {"annual_assessment": True, "term_years": None, "report_due": "06-30", "warn_days": [30]}
    response = api.put(path, json=body, token=admin, headers={"If-Match": etag})
    assert response.status_code == 200, response.get_json()
    assert {k: response.get_json()[k] for k in body} == body
    assert response.get_json()["note"] is None


def test_editing_a_policy_moves_the_dates_of_its_carriers(
    api, admin, carrier_factory, record, rows
):
    county = [carrier_factory(level="county") for _ in range(3)]
    municipal = carrier_factory(level="municipal")
    for carrier in [*county, municipal]:
        record(carrier["id"], "accredited", "2024-02-29")
    record(county[1]["id"], "accredited", "2023-01-01")  # refused (409): stays as it was
    carrier_url = f"{BASE.replace('evaluation-policies', 'carriers')}/{county[0]['id']}"
    etag_before = api.get(carrier_url, token=admin).headers["ETag"]
    first = api.get(carrier_url, token=admin).get_json()
    assert (first["valid_until"], first["next_evaluation_on"]) == ("2027-02-28", "2025-02-28")
    assert first["next_report_due_on"] == "2025-03-31"
    changes = rows(Change)
    response = patch(
        api,
        admin,
        "skill_master_studio/county",
        {"term_years": 4, "annual_assessment": False, "report_due": "02-29"},
    )
    assert response.status_code == 200
    assert rows(Change) == changes + 1
    recorded = rows(Change, Change.object_type == "evaluation_policy")
    assert recorded == 1
    for carrier in county:
        moved = api.get(f"{carrier_url.rsplit('/', 1)[0]}/{carrier['id']}", token=admin).get_json()
        assert moved["valid_until"] == "2028-02-29"
        assert moved["next_evaluation_on"] == "2028-02-29"
        assert moved["next_report_due_on"] == "2025-02-28"
    assert api.get(carrier_url, token=admin).headers["ETag"] != etag_before
    other = api.get(f"{carrier_url.rsplit('/', 1)[0]}/{municipal['id']}", token=admin).get_json()
    assert other["valid_until"] == "2027-02-28"


def test_policy_edit_is_atomic(app, api, admin, carrier_factory, record, monkeypatch):
    from registry import state

    made = carrier_factory(level="county")
    record(made["id"], "accredited", "2024-02-29")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(state, "recompute_dates", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = patch(api, admin, "skill_master_studio/county", {"term_years": 9})
    assert response.status_code == 500
    assert api.get(f"{BASE}/skill_master_studio/county", token=admin).get_json()["term_years"] == 3


def test_policies_json_has_one_rule_per_type_and_level():
    seen = [(rule["type"], level) for rule in DEFAULTS["rules"] for level in rule["levels"]]
    assert sorted(seen) == sorted((t, lv) for t in CARRIER_TYPES for lv in LEVELS)


def test_every_policy_gives_the_documented_dates(api, admin, carrier_factory, record):
    """Derived dates of a carrier accredited on a leap day, for every default policy."""
    expected_by_rule = {
        # (annual_assessment, term_years, report_due) -> (valid_until, next_evaluation, report)
        (False, 5, "03-31"): ("2029-02-28", "2029-02-28", "2025-03-31"),
        (False, 3, "03-31"): ("2027-02-28", "2027-02-28", "2025-03-31"),
        (True, 3, "03-31"): ("2027-02-28", "2025-02-28", "2025-03-31"),
        (True, None, "08-31"): (None, "2025-02-28", "2025-08-31"),
        # Evaluated in national rounds: no validity, no calendar evaluation.
        (False, None, "03-31"): (None, None, "2025-03-31"),
    }
    for rule in DEFAULTS["rules"]:
        key = (rule["annual_assessment"], rule["term_years"], rule["report_due"])
        for level in rule["levels"]:
            carrier = carrier_factory(type=rule["type"], level=level)
            after = record(carrier["id"], "accredited", "2024-02-29").get_json()["carrier"]
            dates = (after["valid_until"], after["next_evaluation_on"], after["next_report_due_on"])
            assert dates == expected_by_rule[key], (rule["type"], level)


def test_a_missing_policy_means_no_dates(app, api, admin, carrier_factory, record):
    from registry import db

    with app.app_context(), db.database.connection_context():
        EvaluationPolicy.delete().where(EvaluationPolicy.type == "maker_space").execute()
    carrier = carrier_factory(type="maker_space", level="county")
    after = record(carrier["id"], "accredited", "2024-02-29").get_json()["carrier"]
    assert (after["valid_until"], after["next_evaluation_on"], after["next_report_due_on"]) == (
        None,
        None,
        None,
    )
    assert api.get(f"{BASE}/maker_space/county", token=admin).status_code == 404
