"""Tokens and /me: creation shown once, listing, revocation, expiry, rotation."""

import datetime as dt

import pytest

from registry import db

TOKENS = "/api/v1/tokens"


def test_me_says_who_the_caller_is(api, make_token, org_factory):
    org = org_factory()
    token = make_token("operator", [org["id"]], name="周巷园区运营")
    assert api.get("/api/v1/me", token=token).get_json() == {
        "name": "周巷园区运营",
        "role": "operator",
        "organizations": [org["id"]],
    }
    assert api.get("/api/v1/me").status_code == 401
    assert api.get("/api/v1/me", token="crt_wrong").status_code == 401


def test_admin_creates_a_token_shown_once(api, admin, org_factory):
    org = org_factory()
    response = api.post(
        TOKENS,
        json={"name": "高校联络", "role": "partner", "organizations": [org["id"]]},
        token=admin,
    )
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    token = body["token"]
    assert token.startswith("crt_") and len(token) >= 4 + 43  # 32 random bytes, base64url
    assert body["prefix"] == token[:8]
    assert body["role"] == "partner" and body["organizations"] == [org["id"]]
    assert body["principal_name"] == "高校联络" and body["active"] is True
    assert response.headers["Location"] == f"{TOKENS}/{body['id']}"
    assert api.get("/api/v1/me", token=token).get_json()["role"] == "partner"
    # Later answers never hold it again.
    listed = api.get(TOKENS, token=admin)
    one = api.get(f"{TOKENS}/{body['id']}", token=admin)
    for later in (listed, one):
        assert token not in later.get_data(as_text=True)
        assert "token_hash" not in later.get_data(as_text=True)
    assert "token" not in one.get_json()


def test_token_is_stored_only_as_its_hash(app, api, admin):
    import hashlib

    from registry.models import Token

    token = api.post(TOKENS, json={"name": "x", "role": "bureau_viewer"}, token=admin).get_json()[
        "token"
    ]
    with app.app_context(), db.database.connection_context():
        rows = list(Token.select().dicts())
    stored = repr(rows)
    assert token not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored


def test_tokens_are_random(make_token):
    tokens = {make_token("bureau_viewer") for _ in range(5)}
    assert len(tokens) == 5


def test_revoked_token_stops_working_and_stays_listed(api, admin, make_token):
    victim = make_token("bureau_viewer", name="离职人员")
    listed = api.get(f"{TOKENS}?q=离职", token=admin).get_json()
    assert len(listed) == 1
    url = f"{TOKENS}/{listed[0]['id']}"
    assert api.get("/api/v1/me", token=victim).status_code == 200
    assert api.delete(url, token=admin).status_code == 428
    etag = api.get(url, token=admin).headers["ETag"]
    assert api.delete(url, token=admin, headers={"If-Match": '"t999-v1"'}).status_code == 412
    assert api.delete(url, token=admin, headers={"If-Match": etag}).status_code == 204
    response = api.get("/api/v1/me", token=victim)
    assert response.status_code == 401
    assert "revoked" in response.get_json()["detail"]
    shown = api.get(url, token=admin)
    assert shown.get_json()["revoked_at"] and shown.get_json()["active"] is False
    assert shown.headers["ETag"] != etag
    again = api.delete(url, token=admin, headers={"If-Match": "*"})
    assert again.status_code == 409
    assert api.get(f"{TOKENS}?active=false", token=admin).get_json()[0]["name"] == "离职人员"
    assert all(t["active"] for t in api.get(f"{TOKENS}?active=true", token=admin).get_json())


def test_expired_token_is_refused(app, api, admin, make_token):
    from registry.models import Token

    token = make_token("bureau_viewer", name="临时")
    assert api.get("/api/v1/me", token=token).status_code == 200
    with app.app_context(), db.database.connection_context():
        Token.update(expires_at=db.utcnow() - dt.timedelta(seconds=1)).where(
            Token.name == "临时"
        ).execute()
    assert api.get("/api/v1/me", token=token).status_code == 401


def test_expiry_is_given_with_an_offset_or_in_the_configured_zone(api, admin):
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    response = api.post(
        TOKENS,
        json={"name": "限期", "role": "bureau_viewer", "expires_at": soon.isoformat()},
        token=admin,
    )
    assert response.status_code == 201, response.get_json()
    shown = dt.datetime.fromisoformat(response.get_json()["expires_at"])
    assert shown == soon and shown.utcoffset() == dt.timedelta(hours=8)
    naive = (soon + dt.timedelta(hours=8)).replace(tzinfo=None).isoformat()
    again = api.post(
        TOKENS, json={"name": "限期2", "role": "bureau_viewer", "expires_at": naive}, token=admin
    ).get_json()
    assert dt.datetime.fromisoformat(again["expires_at"]) == soon


def test_rotation_adds_a_token_to_an_existing_principal(api, admin, make_token, org_factory):
    org = org_factory()
    old = make_token("operator", [org["id"]], name="运营")
    principal_id = api.get(f"{TOKENS}?q=运营", token=admin).get_json()[0]["principal_id"]
    response = api.post(
        TOKENS, json={"name": "运营 2025", "principal_id": principal_id}, token=admin
    )
    assert response.status_code == 201, response.get_json()
    new = response.get_json()["token"]
    assert (
        api.get("/api/v1/me", token=new).get_json() == api.get("/api/v1/me", token=old).get_json()
    )
    assert len(api.get(f"{TOKENS}?principal_id={principal_id}", token=admin).get_json()) == 2


@pytest.mark.parametrize(
    "body,field",
    [
        ({"role": "bureau_viewer"}, "name"),
        ({"name": "x"}, "role"),
        ({"name": "x", "role": "superuser"}, "role"),
        ({"name": " ", "role": "bureau_viewer"}, "name"),
        ({"name": "x", "role": "operator"}, "organizations"),
        ({"name": "x", "role": "operator", "organizations": [4242]}, "organizations"),
        ({"name": "x", "role": "bureau_admin", "organizations": [1]}, "organizations"),
        (
            {"name": "x", "role": "bureau_viewer", "expires_at": "2001-01-01T00:00:00Z"},
            "expires_at",
        ),
        ({"name": "x", "role": "bureau_viewer", "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "x", "role": "bureau_viewer", "expires_at": "0001-01-01T00:00:00+08:00"}, None),
        ({"name": "x", "principal_id": 4242}, "principal_id"),
        ({"name": "x", "principal_id": 1, "role": "bureau_admin"}, "role"),
        ({"name": "x", "role": "partner", "organizations": [10**30]}, "organizations"),
    ],
)
def test_bad_token_requests_are_422_and_create_nothing(api, admin, db_state, body, field):
    before = db_state()
    response = api.post(TOKENS, json=body, token=admin)
    assert response.status_code == 422, response.get_json()
    assert response.content_type == "application/problem+json"
    if field:
        assert field in {key.split(".")[0] for key in response.get_json()["errors"]}
    assert db_state() == before


def test_token_list_filters_and_pages(api, admin, make_token, org_factory):
    org = org_factory()
    for index in range(3):
        make_token("partner", [org["id"]], name=f"partner-{index}")
    response = api.get(f"{TOKENS}?role=partner&page_size=2&sort=name", token=admin)
    assert response.headers["X-Total-Count"] == "3"
    assert [t["name"] for t in response.get_json()] == ["partner-0", "partner-1"]
    assert api.get(f"{TOKENS}?role=king", token=admin).status_code == 422


def test_last_use_is_kept_without_an_audit_record(api, admin, changes):
    count = len(changes())
    api.get("/api/v1/me", token=admin)
    listed = api.get(f"{TOKENS}?q=bureau admin", token=admin).get_json()
    assert listed[0]["last_used_at"] is not None
    assert len(changes()) == count


def test_cli_token_may_expire(app, api):
    result = app.test_cli_runner().invoke(
        args=[
            "create-token",
            "--role",
            "bureau_admin",
            "--name",
            "临时管理员",
            "--expires-in-days",
            "3",
        ]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert "expires at" in lines[1]
    token = lines[-1]
    body = api.get(f"{TOKENS}?q=临时管理员", token=token).get_json()[0]
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(days=2) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=3)
