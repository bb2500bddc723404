"""If-Match writes compare and write in one step (registry/writes.py), through HTTP."""

from __future__ import annotations

import pytest

from registry import db
from registry.models import Carrier, Change

CARRIERS = "/api/v1/carriers"


def test_two_patches_with_one_etag_one_wins(api, admin, carrier_factory):
    carrier = carrier_factory()
    url = f"{CARRIERS}/{carrier['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    first = api.patch(url, json={"description": "甲"}, token=admin, headers={"If-Match": etag})
    second = api.patch(url, json={"description": "乙"}, token=admin, headers={"If-Match": etag})
    assert first.status_code == 200
    assert second.status_code == 412
    assert second.mimetype == "application/problem+json"
    assert api.get(url, token=admin).get_json()["description"] == "甲"


def test_milestone_between_read_and_patch_is_not_undone(api, admin, carrier_factory, record):
    carrier = carrier_factory()
    url = f"{CARRIERS}/{carrier['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    assert record(carrier["id"], "accredited", "2024-03-01").status_code == 201
    stale = api.patch(url, json={"description": "旧"}, token=admin, headers={"If-Match": etag})
    assert stale.status_code == 412
    # Even "any version" edits only what it names: the accreditation stays.
    anyway = api.patch(url, json={"description": "新"}, token=admin, headers={"If-Match": "*"})
    assert anyway.status_code == 200
    body = anyway.get_json()
    assert body["status"] == "accredited" and body["accredited_on"] == "2024-03-01"
    assert body["description"] == "新"


@pytest.mark.parametrize("body", [{}, None])
def test_empty_patch_is_422_without_a_version_or_audit_record(
    api, admin, carrier_factory, db_state, body
):
    carrier = carrier_factory()
    url = f"{CARRIERS}/{carrier['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    before = db_state()
    response = api.patch(url, json=body, token=admin, headers={"If-Match": etag})
    assert response.status_code in (400, 422)
    assert response.mimetype == "application/problem+json"
    assert db_state() == before


def test_if_match_for_another_object_is_412(api, admin, carrier_factory):
    one, other = carrier_factory(), carrier_factory()
    etag = api.get(f"{CARRIERS}/{other['id']}", token=admin).headers["ETag"]
    response = api.patch(
        f"{CARRIERS}/{one['id']}",
        json={"description": "x"},
        token=admin,
        headers={"If-Match": etag},
    )
    assert response.status_code == 412


def test_a_patch_writes_only_the_fields_it_changes(app, api, admin, carrier_factory, in_db):
    carrier = carrier_factory(description="原")
    url = f"{CARRIERS}/{carrier['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    statements = []
    original = db.database.obj.execute_sql

    def spy(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return original(sql, params, *args, **kwargs)

    db.database.obj.execute_sql = spy
    try:
        response = api.patch(
            url, json={"lead_person": "张"}, token=admin, headers={"If-Match": etag}
        )
    finally:
        del db.database.obj.execute_sql
    assert response.status_code == 200
    update = next(sql for sql in statements if sql.startswith('UPDATE "carrier"'))
    assert '"lead_person"' in update and '"description"' not in update
    assert '"version" = ' in update.split("WHERE")[1]
    with in_db():
        assert Carrier.get_by_id(carrier["id"]).description == "原"
        updates = Change.select().where(
            (Change.object_type == "carrier")
            & (Change.object_id == carrier["id"])
            & (Change.action == "update")
        )
        assert updates.count() == 1


def test_every_if_match_write_is_guarded(api, admin, org_factory, make_token):
    """Organisations, targets, tokens: a stale If-Match is a 412 and changes nothing."""
    org = org_factory()
    url = f"/api/v1/organizations/{org['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    assert (
        api.patch(url, json={"address": "一"}, token=admin, headers={"If-Match": etag}).status_code
        == 200
    )
    assert (
        api.patch(url, json={"address": "二"}, token=admin, headers={"If-Match": etag}).status_code
        == 412
    )
    assert api.delete(url, token=admin, headers={"If-Match": etag}).status_code == 412
    assert api.get(url, token=admin).get_json()["address"] == "一"

    target = api.post(
        "/api/v1/targets",
        json={
            "name": "目标",
            "metric": "carrier_count",
            "target_value": 3,
            "deadline": "2030-12-31",
        },
        token=admin,
    )
    assert target.status_code == 201, target.get_json()
    turl = f"/api/v1/targets/{target.get_json()['id']}"
    tag = target.headers["ETag"]
    assert (
        api.patch(turl, json={"name": "甲"}, token=admin, headers={"If-Match": tag}).status_code
        == 200
    )
    assert api.delete(turl, token=admin, headers={"If-Match": tag}).status_code == 412

    make_token("bureau_viewer", name="某人")
    token = api.get("/api/v1/tokens?q=某人", token=admin).get_json()[0]
    kurl = f"/api/v1/tokens/{token['id']}"
    kag = api.get(kurl, token=admin).headers["ETag"]
    assert api.delete(kurl, token=admin, headers={"If-Match": kag}).status_code == 204
    assert api.delete(kurl, token=admin, headers={"If-Match": kag}).status_code == 412
