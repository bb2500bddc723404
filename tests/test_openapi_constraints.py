"""The OpenAPI document states the constraints the server enforces (issue 9, schemathesis
``--checks all``): a request the schema allows is accepted, one it refuses is refused. Each
test pairs what the document says with what the server does, through HTTP."""

from __future__ import annotations

import re

import pytest

SPEC = "/api/v1/openapi.json"
ORGS = "/api/v1/organizations"


@pytest.fixture
def spec(api) -> dict:
    return api.get(SPEC).get_json()


def parameter(spec: dict, path: str, name: str) -> dict:
    (found,) = [p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name]
    return found["schema"]


def matches(schema: dict, text: str) -> bool:
    """Whether ``text`` matches the schema's pattern as JSON Schema reads it (ECMA 262: a
    final ``$`` matches only at the end, where Python's also matches before a newline)."""
    pattern = re.sub(r"\$$", r"\\Z", schema["pattern"])
    return re.search(pattern, text) is not None


# --- PATCH bodies ------------------------------------------------------------------------


def test_every_patch_body_needs_a_field_and_an_empty_one_is_422(api, admin, spec, org_factory):
    schemas = spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        if "patch" not in operations:
            continue
        ref = operations["patch"]["requestBody"]["content"]["application/json"]["schema"]
        body = schemas[ref["$ref"].rsplit("/", 1)[1]]
        assert body.get("minProperties", 0) >= 1 or "metrics" in body.get("required", []), path
    org = org_factory()
    response = api.patch(f"{ORGS}/{org['id']}", json={}, token=admin, headers={"If-Match": "*"})
    assert response.status_code == 422
    assert response.get_json()["errors"]["_body"] == ["Send at least one field to change."]


# --- nullable nested objects -------------------------------------------------------------


def test_a_nullable_nested_object_is_its_schema_or_null_not_any_object(api, admin, spec):
    contact = spec["components"]["schemas"]["Organization"]["properties"]["contact"]
    branches = contact["anyOf"]
    assert {"$ref": "#/components/schemas/Contact"} in branches
    (null,) = [branch for branch in branches if "$ref" not in branch]
    assert null["enum"] == [None]
    body = {"name": "示例单位", "kind": "enterprise", "contact": {"fax": "1"}}
    assert api.post(ORGS, json=body, token=admin).status_code == 422
    body["contact"] = None
    assert api.post(ORGS, json=body, token=admin).status_code == 201


# --- booleans ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, "true", "yes"])
def test_a_body_boolean_is_true_or_false_only(api, admin, value):
    body = {"name": "示例单位", "kind": "enterprise", "uscc_override": value}
    response = api.post(ORGS, json=body, token=admin)
    assert response.status_code == 422
    assert response.get_json()["errors"]["uscc_override"] == ["Not a valid boolean."]
    body["uscc_override"] = False
    assert api.post(ORGS, json=body, token=admin).status_code == 201


def test_a_query_boolean_is_still_text(api, admin):
    assert api.get("/api/v1/webhooks?active=false", token=admin).status_code == 200


# --- ids in query strings ----------------------------------------------------------------


def test_a_feed_key_filter_by_principal_takes_the_id_as_query_text(
    api, admin, make_token, org_factory
):
    """``?principal_id=1`` answered 422 "Not a valid integer": the field was the body's
    strict integer, which a query string (always text) can never satisfy."""
    operator = make_token("operator", [org_factory()["id"]], name="园区运营")
    assert api.post("/api/v1/me/feed-key", token=operator).status_code == 201
    (entry,) = api.get("/api/v1/feed-keys", token=admin).get_json()
    response = api.get(f"/api/v1/feed-keys?principal_id={entry['principal_id']}", token=admin)
    assert response.status_code == 200, response.get_json()
    assert [row["principal_id"] for row in response.get_json()] == [entry["principal_id"]]
    assert api.get("/api/v1/feed-keys?principal_id=0", token=admin).status_code == 422


# --- credit codes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["abc", "91330282730000070", "9133028273000007O4", "91330282730000070!"]
)
def test_the_override_waives_the_check_digit_not_the_form_of_a_code(api, admin, spec, code):
    """``uscc_override`` let any text through as a credit code; now only the check digit."""
    pattern = spec["components"]["schemas"]["Organization"]["properties"]["uscc"]
    assert not matches(pattern, code)
    body = {"name": "示例单位", "kind": "enterprise", "uscc": code, "uscc_override": True}
    response = api.post(ORGS, json=body, token=admin)
    assert response.status_code == 422
    assert "uscc" in response.get_json()["errors"]


def test_the_override_still_waives_a_check_digit(api, admin, spec):
    code = "913302827300000705"  # 913302827300000704 is the valid one
    assert matches(spec["components"]["schemas"]["Organization"]["properties"]["uscc"], code)
    body = {"name": "示例单位", "kind": "enterprise", "uscc": code}
    assert api.post(ORGS, json=body, token=admin).status_code == 422
    body["uscc_override"] = True
    assert api.post(ORGS, json=body, token=admin).status_code == 201


# --- patterns that say what the checks say -----------------------------------------------


@pytest.mark.parametrize(
    "phone,ok",
    [("13812345678", True), ("0574-63000001转8001", True), ("", False), ("١٣٨١٢٣٤٥٦٧٨", False)],
)
def test_the_phone_pattern_is_the_check(api, admin, spec, phone, ok):
    """Digits are ASCII digits (``\\d`` also took Arabic-Indic ones)."""
    assert matches(spec["components"]["schemas"]["Contact"]["properties"]["phone"], phone) is ok
    body = {"name": "示例单位", "kind": "enterprise", "contact": {"phone": phone}}
    assert api.post(ORGS, json=body, token=admin).status_code == (201 if ok else 422)


@pytest.mark.parametrize(
    "group_by,ok",
    [("type", True), ("town,status,level,type", True), ("type,type", False), ("", False)],
)
def test_the_group_by_pattern_is_the_check(api, admin, spec, group_by, ok):
    assert matches(parameter(spec, "/api/v1/stats/carriers", "group_by"), group_by) is ok
    response = api.get(f"/api/v1/stats/carriers?group_by={group_by}", token=admin)
    assert response.status_code == (200 if ok else 422)


@pytest.mark.parametrize(
    "bound,ok",
    [
        ("2026-03-01", True),
        ("2026-03-01T08:30", True),
        ("2026-03-01T08:30:00.5Z", True),
        ("2026-03-01T08:30+08:00", True),
        ("", False),
        ("2026-03-01T08:30z", False),
        ("2026-02-30", False),
    ],
)
def test_the_time_bound_pattern_is_the_check(api, admin, spec, bound, ok):
    assert matches(parameter(spec, "/api/v1/changes", "from"), bound) is ok
    response = api.get("/api/v1/changes", query_string={"from": bound}, token=admin)
    assert response.status_code == (200 if ok else 422)


@pytest.mark.parametrize(
    "due,ok", [("02-29", True), ("12-31", True), ("04-31", False), ("٠١-٠١", False)]
)
def test_the_month_day_pattern_is_the_check(api, admin, spec, carrier_factory, due, ok):
    assert matches(spec["components"]["schemas"]["Carrier"]["properties"]["report_due"], due) is ok
    carrier = carrier_factory()
    response = api.patch(
        f"/api/v1/carriers/{carrier['id']}",
        json={"report_due": due},
        token=admin,
        headers={"If-Match": "*"},
    )
    assert response.status_code == (200 if ok else 422)


def test_text_is_documented_without_nul_and_refused_with_one(api, admin, spec):
    name = spec["components"]["schemas"]["Organization"]["properties"]["name"]
    assert matches(name, "示例单位") and not matches(name, "示例\x00单位")
    assert not matches(parameter(spec, "/api/v1/changes", "actor"), "a\x00")
    body = {"name": "示例\x00单位", "kind": "enterprise"}
    assert api.post(ORGS, json=body, token=admin).status_code == 422
    assert api.get("/api/v1/changes?actor=a%00", token=admin).status_code == 422


def test_a_webhook_search_without_control_characters_is_documented(api, admin, spec):
    q = parameter(spec, "/api/v1/webhooks", "q")
    assert matches(q, "钉钉") and not matches(q, "a\x13") and not matches(q, "a\n")
    assert api.get("/api/v1/webhooks?q=a%13", token=admin).status_code == 422
    assert api.get("/api/v1/webhooks?q=a%0A", token=admin).status_code == 422


def test_distinct_lists_say_unique_items(spec):
    campaign = spec["components"]["schemas"]["EvaluationCampaign"]["properties"]
    assert campaign["types"]["uniqueItems"] is True and campaign["levels"]["uniqueItems"] is True


# --- report metrics and targets ----------------------------------------------------------


def test_report_metrics_name_every_key_and_whole_counts(spec):
    metrics = spec["components"]["schemas"]["AnnualReport"]["properties"]["metrics"]
    assert metrics["additionalProperties"] is False and metrics["minProperties"] == 1
    assert metrics["maxProperties"] == 50 and "maxLength" not in metrics
    assert metrics["properties"]["trainees_trained"]["multipleOf"] == 1
    assert "multipleOf" not in metrics["properties"]["funding_raised_wan"]
    assert metrics["properties"]["funding_raised_wan"]["maximum"] == 10**15


def test_a_target_too_small_for_its_percentage_is_refused(api, admin, spec):
    """A goal of 1e-308 made progress.percent overflow (written as null, against its schema)."""
    value = spec["components"]["schemas"]["Target"]["properties"]["target_value"]
    assert value["minimum"] == 0.01
    body = {"name": "目标", "metric": "carrier_count", "deadline": "2099-12-31"}
    tiny = api.post("/api/v1/targets", json={**body, "target_value": 1e-308}, token=admin)
    assert tiny.status_code == 422
    made = api.post("/api/v1/targets", json={**body, "target_value": 0.01}, token=admin)
    assert made.status_code == 201
    assert isinstance(made.get_json()["progress"]["percent"], float)
