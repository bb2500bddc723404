"""Bad request bodies (issue 9, defect 8): refused before any view runs, as problem+json,
with nothing changed; and nothing already stored can make an answer invalid JSON."""

from __future__ import annotations

import json
import os

import pytest

from registry import db

CARRIERS = "/api/v1/carriers"
ORGS = "/api/v1/organizations"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["detail"]
    return body


def send(api, method: str, path: str, raw: str | bytes, token: str, **headers):
    """A request whose body is sent byte for byte (``api.post(json=…)`` would re-encode it)."""
    headers = {"Content-Type": "application/json", **headers, "Authorization": f"Bearer {token}"}
    return api.client.open(path, method=method, data=raw, headers=headers)


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [600, 5000, 100_000])
def test_deep_nesting_is_refused_even_on_a_get(api, admin, depth):
    body = assert_problem(send(api, "GET", CARRIERS, nested(depth), admin), 422)
    assert "nest" in json.dumps(body)


@pytest.mark.parametrize(
    "raw, status",
    [
        ('{"name": "x", "kind": "other", "note": NaN}', 422),
        ('{"name": "x", "kind": "other", "note": Infinity}', 422),
        ('{"name": "x", "kind": "other", "note": -Infinity}', 422),
        ('{"name": "x\\ud800", "kind": "other"}', 422),
        ('{"name": "x", "kind": "other", "contact": {"\\udfff": "k"}}', 422),
        ('{"name": "a\\u0000b", "kind": "other"}', 422),
        ('{"name": "x", "kind": ', 400),
        (b'{"name": "\xff\xfe", "kind": "other"}', 400),
    ],
)
def test_unacceptable_json_is_refused_and_changes_nothing(api, admin, db_state, raw, status):
    before = db_state()
    assert_problem(send(api, "POST", ORGS, raw, admin), status)
    assert db_state() == before


def test_attributes_nested_600_deep_are_refused(api, admin, carrier_factory, db_state):
    carrier = carrier_factory()
    before = db_state()
    raw = '{"attributes": {"deep": ' + nested(600) + "}}"
    response = send(api, "PATCH", f"{CARRIERS}/{carrier['id']}", raw, admin, **{"If-Match": "*"})
    problem = assert_problem(response, 422)
    assert "attributes" in problem["errors"]
    assert db_state() == before


def test_nan_in_attributes_is_refused(api, admin, carrier_factory, db_state):
    carrier = carrier_factory()
    before = db_state()
    raw = '{"attributes": {"area": NaN}}'
    response = send(api, "PATCH", f"{CARRIERS}/{carrier['id']}", raw, admin, **{"If-Match": "*"})
    assert "attributes" in assert_problem(response, 422)["errors"]
    assert db_state() == before


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_a_body_that_is_not_declared_json_is_415_and_changes_nothing(
    api, admin, carrier_factory, db_state, content_type
):
    """curl -d sends form encoding: it used to answer 200, bump the version and audit nothing."""
    carrier = carrier_factory()
    before = db_state()
    headers = {"Authorization": f"Bearer {admin}", "If-Match": "*"}
    if content_type:
        headers["Content-Type"] = content_type
    response = api.client.patch(
        f"{CARRIERS}/{carrier['id']}", data='{"name": "renamed"}', headers=headers
    )
    assert "application/json" in assert_problem(response, 415)["detail"]
    assert db_state() == before


def test_json_with_charset_and_plus_json_types_are_accepted(api, admin):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = send(
            api,
            "POST",
            ORGS,
            '{"name": "ok' + content_type[-3:] + '", "kind": "other"}',
            admin,
            **{"Content-Type": content_type},
        )
        assert response.status_code == 201, response.get_json()


def test_a_post_without_a_body_still_needs_no_content_type(api, admin, db_state):
    """An empty body is no body: the view decides (here: the fields are missing)."""
    before = db_state()
    response = api.client.post(ORGS, headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code in (400, 422)
    assert db_state() == before


def test_views_see_the_one_strictly_parsed_body(app, api, admin, monkeypatch):
    """The body is parsed once, by the hook: webargs does not parse it again."""
    from registry import jsontext

    calls = []
    real = json.loads

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(jsontext.json, "loads", counting)
    raw = '{"name": "一次", "kind": "other"}'
    response = send(api, "POST", ORGS, raw, admin)
    assert response.status_code == 201
    assert calls.count(raw) == 1


@pytest.mark.skipif(
    bool(os.environ.get("REGISTRY_TEST_DATABASE_URL")),
    reason="PostgreSQL jsonb cannot hold NaN or lone surrogates in the first place",
)
def test_values_stored_before_the_strict_parse_still_give_valid_json(
    app, api, admin, carrier_factory
):
    carrier = carrier_factory()
    with app.app_context(), db.database.connection_context():
        # As the JSON text an older version stored (raw: the field itself would refuse).
        db.database.execute_sql(
            "UPDATE carrier SET attributes = ? WHERE id = ?",
            ('{"area": NaN, "size": Infinity, "note": "x\\ud800y"}', carrier["id"]),
        )
    for path in (CARRIERS, f"{CARRIERS}/{carrier['id']}"):
        response = api.get(path, token=admin)
        assert response.status_code == 200
        text = response.get_data().decode("utf-8")
        document = json.loads(text, parse_constant=lambda name: pytest.fail(name))
        item = document[0] if isinstance(document, list) else document
        assert item["attributes"]["area"] is None
        assert item["attributes"]["size"] is None
        assert item["attributes"]["note"].startswith("x\ufffd")


def test_every_body_method_documents_415_and_every_body_400_and_422(api):
    spec = api.get("/api/v1/openapi.json").get_json()
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "put", "patch"):
                continue
            checked += 1
            assert "415" in operation["responses"], (method, path)
            if "requestBody" in operation:
                assert {"400", "422"} <= set(operation["responses"]), (method, path)
    assert checked > 10
