"""SPEC §4: problem+json everywhere, health endpoints, the OpenAPI document and the docs page."""

import pytest


def assert_problem(response, status):
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    return body


def test_unknown_route_is_problem_json(api):
    assert_problem(api.get("/api/v1/nothing-here"), 404)


def test_method_not_allowed_keeps_allow_header(api, admin):
    response = api.put("/api/v1/carriers", json={}, token=admin)
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_malformed_json_is_400(api, admin):
    response = api.client.post(
        "/api/v1/organizations",
        data="{bad",
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
    )
    assert_problem(response, 400)


def test_non_object_body_is_422(api, admin):
    response = api.post("/api/v1/organizations", json=[1, 2], token=admin)
    body = assert_problem(response, 422)
    assert "JSON object" in body["detail"] or body["errors"]


def test_body_too_large_is_413(app, api, admin):
    big = {"name": "x" * (app.config["MAX_BODY_BYTES"] + 10), "kind": "other"}
    body = assert_problem(api.post("/api/v1/organizations", json=big, token=admin), 413)
    assert body["detail"]
    assert api.get("/api/v1/organizations", token=admin).headers["X-Total-Count"] == "0"


def test_bad_token_is_401(api):
    body = assert_problem(api.get("/api/v1/organizations", token="crt_nope"), 401)
    assert "token" in body["detail"]
    assert_problem(api.get("/api/v1/organizations", headers={"Authorization": "Basic x"}), 401)


def test_no_token_on_private_resource_is_401(api):
    assert_problem(api.get("/api/v1/organizations"), 401)


def test_request_id_is_kept_or_made(api):
    assert api.get("/healthz", headers={"X-Request-ID": "abc-1"}).headers["X-Request-ID"] == "abc-1"
    assert len(api.get("/healthz").headers["X-Request-ID"]) == 32


def test_healthz_and_readyz(api):
    assert api.get("/healthz").get_json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "ready"


def test_readyz_unready_on_stale_schema(app, api):
    from registry import schema
    from registry.db import database

    with app.app_context(), database.connection_context():
        schema.SchemaVersion.delete().where(
            schema.SchemaVersion.version == schema.latest_version()
        ).execute()
    try:
        response = api.get("/readyz")
        assert response.status_code == 503
        assert "stale" in response.get_json()["schema"]
    finally:
        with app.app_context(), database.connection_context():
            schema.upgrade()


def test_openapi_document_describes_every_operation(api):
    spec = api.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/carriers" in spec["paths"]
    assert "/api/v1/stats/carriers" in spec["paths"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert operation.get("summary"), f"{method} {path} has no summary"
            codes = set(operation["responses"])
            if method in ("patch", "delete"):
                assert {"412", "428"} <= codes, f"{method} {path}"
                names = [p.get("name") for p in operation.get("parameters", [])]
                assert "If-Match" in names


@pytest.mark.parametrize("path", ["/api/docs", "/api/docs/static/swagger-ui-bundle.js"])
def test_docs_are_served_locally(api, path):
    response = api.get(path)
    assert response.status_code == 200
    response.close()
    if path == "/api/docs":
        assert "cdn" not in response.get_data(as_text=True).lower()


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a\u0000b", "kind": "other"},
        {"name": "ab", "kind": "other", "contact": {"name": "x\u0000"}},
        {"name": "ab", "kind": "other", "contact": {"na\u0000me": "x"}},
    ],
)
def test_nul_character_is_422_and_writes_nothing(api, admin, body):
    response = api.post("/api/v1/organizations", json=body, token=admin)
    problem = assert_problem(response, 422)
    assert "NUL" in next(iter(problem["errors"].values()))[0]
    assert api.get("/api/v1/organizations", token=admin).headers["X-Total-Count"] == "0"


def test_nul_character_in_query_is_422(api, admin):
    assert_problem(api.get("/api/v1/carriers?q=a%00b", token=admin), 422)


def test_every_parameter_is_described(api):
    spec = api.get("/api/v1/openapi.json").get_json()
    bare = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            parameters = operation if method == "parameters" else operation.get("parameters", [])
            for parameter in parameters:
                if "$ref" not in parameter and not parameter.get("description"):
                    bare.append(f"{method} {path} {parameter['name']}")
    assert bare == []
