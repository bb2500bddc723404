"""Issue 9, defect 3: ids are never reused (SQLite AUTOINCREMENT, PostgreSQL sequences), and
an organisation still named by a carrier, a principal or a webhook filter is not deleted."""

from __future__ import annotations

import os
import socket

import pytest
from webhook_support import FakeDNS

from registry import db
from registry.models import Organization

ORGS = "/api/v1/organizations"
CARRIERS = "/api/v1/carriers"


def delete(api, admin, url):
    etag = api.get(url, token=admin).headers["ETag"]
    return api.delete(url, token=admin, headers={"If-Match": etag})


def test_a_new_organisation_never_gets_the_id_of_a_deleted_one(api, admin, org_factory):
    first = org_factory()
    last = org_factory()  # the highest id: SQLite without AUTOINCREMENT hands it out again
    assert delete(api, admin, f"{ORGS}/{last['id']}").status_code == 204
    assert delete(api, admin, f"{ORGS}/{first['id']}").status_code == 204
    new = org_factory()
    assert new["id"] not in (first["id"], last["id"])
    assert new["id"] > last["id"]


def test_an_operator_of_a_deleted_organisation_cannot_read_its_successor(
    api, admin, make_token, org_factory, in_db, db_state
):
    org = org_factory()
    operator = make_token("operator", [org["id"]])
    before = db_state()
    refused = delete(api, admin, f"{ORGS}/{org['id']}")
    assert refused.status_code == 409
    assert refused.mimetype == "application/problem+json"
    assert "principal" in refused.get_json()["detail"]
    assert db_state() == before
    # A principal left naming an organisation deleted before this rule existed.
    with in_db():
        Organization.delete_by_id(org["id"])
    new = org_factory()
    assert new["id"] != org["id"]
    assert api.get(f"{ORGS}/{new['id']}", token=operator).status_code in (403, 404)
    body = {"name": "示例载体", "type": "skill_master_studio", "level": "county"}
    hosted = api.post(CARRIERS, json={**body, "host_organization_id": new["id"]}, token=admin)
    assert hosted.status_code == 201
    assert api.get(f"{CARRIERS}/{hosted.get_json()['id']}", token=operator).status_code == 404


def test_a_deleted_carriers_history_never_shows_in_a_new_carrier(
    api, admin, carrier_factory, org_factory
):
    host = org_factory()
    old = carrier_factory(host_organization_id=host["id"], description="旧的")
    url = f"{CARRIERS}/{old['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    edited = api.patch(url, json={"description": "改过"}, token=admin, headers={"If-Match": etag})
    assert edited.status_code == 200
    assert delete(api, admin, url).status_code == 204
    new = carrier_factory(host_organization_id=host["id"])
    assert new["id"] != old["id"]
    history = api.get(f"{CARRIERS}/{new['id']}/history", token=admin)
    assert history.status_code == 200
    records = history.get_json()
    assert records, "the new carrier's own creation is in its history"
    assert all(record["object_id"] == new["id"] for record in records), records
    assert "旧的" not in history.get_data(as_text=True)


def test_an_organisation_hosting_or_partnering_a_carrier_is_not_deleted(
    api, admin, carrier_factory, org_factory, db_state
):
    host, partner = org_factory(), org_factory()
    carrier = carrier_factory(
        host_organization_id=host["id"],
        partners=[{"organization_id": partner["id"], "role": "university"}],
    )
    before = db_state()
    for org, words in ((host, "hosts"), (partner, "partners")):
        response = delete(api, admin, f"{ORGS}/{org['id']}")
        assert response.status_code == 409
        detail = response.get_json()["detail"]
        assert words in detail and str(carrier["id"]) in detail
    assert db_state() == before


def test_an_organisation_named_by_a_webhook_filter_is_not_deleted(
    api, admin, org_factory, db_state, monkeypatch
):
    monkeypatch.setattr(socket, "getaddrinfo", FakeDNS())
    org = org_factory()
    body = {"url": "https://hooks.example.com/x", "filter": {"organization_id": [org["id"]]}}
    hook = api.post("/api/v1/webhooks", json=body, token=admin)
    assert hook.status_code == 201, hook.get_json()
    before = db_state()
    response = delete(api, admin, f"{ORGS}/{org['id']}")
    assert response.status_code == 409
    assert f"webhook(s) {hook.get_json()['id']}" in response.get_json()["detail"]
    assert db_state() == before


@pytest.mark.skipif(bool(os.environ.get("REGISTRY_TEST_DATABASE_URL")), reason="SQLite only")
def test_every_sqlite_table_with_an_id_uses_autoincrement(app):
    with app.app_context(), db.database.connection_context():
        rows = db.database.execute_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE '%\"id\"%'"
        ).fetchall()
    plain = [name for name, sql in rows if "AUTOINCREMENT" not in sql.upper()]
    assert rows and plain == []
