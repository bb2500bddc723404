"""Calendar feed keys (issue 9, defect 5): they die with their principal's token, a bureau
admin lists and revokes anyone's, and no answer holding or naming a key is cached."""

from __future__ import annotations

import pytest

FEED = "/api/v1/calendar.ics"
ME_KEY = "/api/v1/me/feed-key"
KEYS = "/api/v1/feed-keys"


@pytest.fixture
def operator(make_token, org_factory) -> str:
    return make_token("operator", [org_factory()["id"]], name="园区运营")


def new_key(api, token: str) -> str:
    response = api.post(ME_KEY, token=token)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()["feed_key"]


def token_id(api, admin, name: str) -> int:
    rows = api.get(f"/api/v1/tokens?q={name}", token=admin).get_json()
    (found,) = [row["id"] for row in rows if row["name"] == name]
    return found


def test_revoking_the_token_kills_its_feed_key(api, admin, operator, changes):
    key = new_key(api, operator)
    assert api.get(f"{FEED}?key={key}").status_code == 200
    revoked = api.delete(
        f"/api/v1/tokens/{token_id(api, admin, '园区运营')}", token=admin, headers={"If-Match": "*"}
    )
    assert revoked.status_code == 204
    assert api.get(f"{FEED}?key={key}").status_code == 401
    assert changes()[-1]["after"]["feed_key_revoked"] is True


def test_a_key_of_a_principal_without_active_tokens_is_dead(app, api, operator, in_db):
    """Expiry (or any other end of every token) ends the principal, and its key with it."""
    from registry.db import utcnow
    from registry.models import Token

    key = new_key(api, operator)
    with in_db():
        Token.update(expires_at=utcnow()).execute()
    assert api.get(f"{FEED}?key={key}").status_code == 401


def test_revoking_one_token_of_several_kills_the_key_too(api, admin, operator):
    key = new_key(api, operator)
    (entry,) = api.get(KEYS, token=admin).get_json()
    principal_id = entry["principal_id"]
    second = api.post(
        "/api/v1/tokens", json={"name": "第二", "principal_id": principal_id}, token=admin
    )
    assert second.status_code == 201
    first_id = token_id(api, admin, "园区运营")
    api.delete(f"/api/v1/tokens/{first_id}", token=admin, headers={"If-Match": "*"})
    assert api.get(f"{FEED}?key={key}").status_code == 401
    # The principal still acts with its other token, and may make a new key.
    fresh = new_key(api, second.get_json()["token"])
    assert api.get(f"{FEED}?key={fresh}").status_code == 200


def test_admin_lists_keys_without_revealing_them(api, admin, operator, viewer):
    key = new_key(api, operator)
    response = api.get(KEYS, token=admin)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Total-Count"] == "1"
    (entry,) = response.get_json()
    assert entry["principal_name"] == "园区运营" and entry["role"] == "operator"
    assert entry["active"] is True
    assert key not in response.get_data(as_text=True)
    one = api.get(f"{KEYS}/{entry['principal_id']}", token=admin)
    assert one.status_code == 200 and one.headers["Cache-Control"] == "no-store"
    assert one.headers["ETag"] == api.get(ME_KEY, token=operator).headers["ETag"]


@pytest.mark.parametrize("who", ["viewer", "operator", None])
def test_only_admins_list_or_revoke_keys(api, admin, operator, viewer, who, db_state):
    new_key(api, operator)
    (entry,) = api.get(KEYS, token=admin).get_json()
    token = {"viewer": viewer, "operator": operator, None: None}[who]
    before = db_state()
    assert api.get(KEYS, token=token).status_code in (401, 403)
    path = f"{KEYS}/{entry['principal_id']}"
    assert api.delete(path, token=token, headers={"If-Match": "*"}).status_code in (401, 403)
    assert db_state() == before


def test_admin_revokes_another_principals_key(api, admin, operator, changes):
    key = new_key(api, operator)
    (entry,) = api.get(KEYS, token=admin).get_json()
    path = f"{KEYS}/{entry['principal_id']}"
    assert api.delete(path, token=admin).status_code == 428
    assert api.delete(path, token=admin, headers={"If-Match": '"k1-vstale"'}).status_code == 412
    etag = api.get(path, token=admin).headers["ETag"]
    assert api.delete(path, token=admin, headers={"If-Match": etag}).status_code == 204
    assert api.get(f"{FEED}?key={key}").status_code == 401
    assert api.get(path, token=admin).status_code == 404
    assert api.get(KEYS, token=admin).get_json() == []
    assert api.get(ME_KEY, token=operator).get_json() == {"active": False}
    record = changes()[-1]
    assert record["actor"] == "bureau admin" and record["after"]["active"] is False
    # The operator's token itself still works.
    assert api.get("/api/v1/me", token=operator).status_code == 200


def test_the_own_key_status_is_not_cached(api, operator):
    assert api.get(ME_KEY, token=operator).headers["Cache-Control"] == "no-store"
