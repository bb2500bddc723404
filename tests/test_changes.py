"""The audit trail: one record per write, none for a refused one; /changes and /history."""

import datetime as dt

import pytest

from registry import db

CHANGES = "/api/v1/changes"


def test_writes_record_actor_token_request_and_states(api, make_token, changes):
    admin = make_token("bureau_admin", name="张科长")
    response = api.post(
        "/api/v1/organizations",
        json={"name": "公牛集团", "kind": "enterprise"},
        token=admin,
        headers={"X-Request-ID": "req-42"},
    )
    assert response.headers["X-Request-ID"] == "req-42"
    org = response.get_json()
    last = changes()[-1]
    assert last["actor"] == "张科长" and last["token_name"] == "张科长"
    assert last["action"] == "create" and last["object_type"] == "organization"
    assert last["object_id"] == org["id"] and last["request_id"] == "req-42"
    assert last["before"] is None and last["after"]["name"] == "公牛集团"

    listed = api.get(f"{CHANGES}?request_id=req-42", token=admin).get_json()
    assert len(listed) == 1
    record = listed[0]
    assert record["changed"] == sorted(record["after"])
    assert dt.datetime.fromisoformat(record["at"]).utcoffset() == dt.timedelta(hours=8)


def test_the_token_name_tells_two_tokens_of_one_principal_apart(api, admin, changes):
    principal_id = api.get("/api/v1/tokens", token=admin).get_json()[0]["principal_id"]
    second = api.post(
        "/api/v1/tokens", json={"name": "张科长的笔记本", "principal_id": principal_id}, token=admin
    ).get_json()["token"]
    api.post("/api/v1/organizations", json={"name": "甲", "kind": "other"}, token=second)
    last = changes()[-1]
    assert last["actor"] == "bureau admin" and last["token_name"] == "张科长的笔记本"


def test_refused_and_failed_writes_leave_no_record(api, admin, carrier_factory, accredit, changes):
    carrier = carrier_factory()
    accredit(carrier["id"], "2024-01-10")
    url = f"/api/v1/carriers/{carrier['id']}"
    count = len(changes())
    etag = api.get(url, token=admin).headers["ETag"]
    attempts = [
        api.delete(url, token=admin, headers={"If-Match": etag}),  # history: 409
        api.patch(url, json={"level": "national"}, token=admin, headers={"If-Match": etag}),  # 409
        api.patch(url, json={"description": "x"}, token=admin, headers={"If-Match": '"c1-v0"'}),
        api.patch(url, json={"town": "火星镇"}, token=admin, headers={"If-Match": etag}),
        api.post("/api/v1/carriers", json={"name": "x"}, token=admin),
        api.post("/api/v1/organizations", json={"name": "x", "kind": "other"}),
    ]
    assert [r.status_code for r in attempts] == [409, 409, 412, 422, 422, 401]
    assert len(changes()) == count


def test_a_write_failing_half_way_leaves_no_record(app, api, admin, carrier_factory, changes):
    """The audit record is written in the transaction of the change: a failure after it
    rolls both back."""
    from unittest import mock

    from registry import audit

    carrier = carrier_factory()
    count = len(changes())
    url = f"/api/v1/carriers/{carrier['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with mock.patch.object(audit, "emit", side_effect=RuntimeError("outbox down")):
        response = api.patch(
            url, json={"description": "改"}, token=admin, headers={"If-Match": etag}
        )
    assert response.status_code == 500
    assert len(changes()) == count
    assert api.get(url, token=admin).get_json()["description"] is None


def test_milestones_and_voids_are_recorded_once(app, api, admin, carrier_factory, changes):
    from registry import milestones
    from registry.models import Carrier

    carrier = carrier_factory()
    count = len(changes())
    with app.test_request_context(), db.database.connection_context():
        row = Carrier.get_by_id(carrier["id"])
        made = milestones.record_milestone(
            row, {"kind": "accredited", "occurred_on": dt.date(2024, 1, 1)}, actor="tests"
        )
        milestones.void_milestone(made, "录入错误")
    new = changes()[count:]
    assert [c["action"] for c in new] == ["milestone", "void"]
    assert new[0]["before"]["status"] == "applying" and new[0]["after"]["status"] == "accredited"
    assert new[1]["after"]["status"] == "applying"
    assert all(c["carrier_id"] == carrier["id"] for c in new)


def test_cli_token_is_recorded_with_the_cli_actor(app, changes):
    result = app.test_cli_runner().invoke(
        args=["create-token", "--role", "bureau_viewer", "--name", "审计员"]
    )
    assert result.exit_code == 0
    last = changes()[-1]
    assert last["actor"] == "cli" and last["action"] == "token"
    assert last["after"]["name"] == "审计员"


@pytest.fixture
def trail(api, admin, make_token, carrier_factory, org_factory):
    """Some history: two organisations, a carrier created and edited by the admin."""
    other = make_token("bureau_admin", name="李科员")
    org = org_factory(name="甲")
    api.post("/api/v1/organizations", json={"name": "乙", "kind": "other"}, token=other)
    carrier = carrier_factory(host_organization_id=org["id"])
    url = f"/api/v1/carriers/{carrier['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    api.patch(url, json={"description": "改"}, token=other, headers={"If-Match": etag})
    return {"org": org, "carrier": carrier}


@pytest.mark.parametrize(
    "query,expected",
    [
        ("object_type=organization", 2),
        ("object_type=carrier", 2),
        ("object_type=token", 2),
        ("actor=李科员", 2),
        ("action=update", 1),
        ("action=create&object_type=carrier", 1),
        ("from=2000-01-01", 6),
        ("to=2000-01-01", 0),
        ("from=2999-01-01T00:00:00%2B08:00", 0),
    ],
)
def test_change_filters(api, admin, trail, query, expected):
    response = api.get(f"{CHANGES}?{query}", token=admin)
    assert response.status_code == 200, response.get_json()
    assert response.headers["X-Total-Count"] == str(expected)


def test_change_filter_by_object_and_time_window(api, viewer, trail, changes):
    carrier_id = trail["carrier"]["id"]
    records = api.get(
        f"{CHANGES}?object_type=carrier&object_id={carrier_id}&sort=at", token=viewer
    ).get_json()
    assert [r["action"] for r in records] == ["create", "update"]
    newest_first = api.get(
        f"{CHANGES}?object_type=carrier&object_id={carrier_id}", token=viewer
    ).get_json()
    assert [r["action"] for r in newest_first] == ["update", "create"]
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    assert len(api.get(f"{CHANGES}?from={today}&to={today}", token=viewer).get_json()) == len(
        changes()
    )


@pytest.mark.parametrize(
    "query",
    [
        "action=explode",
        "object_type=DROP TABLE",
        "from=yesterday",
        "to=2024-13-01",
        "sort=actor",
        "object_id=0",
        f"object_id={10**30}",
        "page_size=1000",
        "from=0001-01-01T00:00:00%2B08:00",
        "to=9999-12-31",
    ],
)
def test_bad_change_filters_are_422(api, admin, query):
    response = api.get(f"{CHANGES}?{query}", token=admin)
    assert response.status_code == 422, query
    assert response.get_json()["errors"]


def test_changes_are_for_the_bureau_only(api, make_token, org_factory):
    org = org_factory()
    assert api.get(CHANGES).status_code == 401
    assert api.get(CHANGES, token=make_token("operator", [org["id"]])).status_code == 403
    assert api.get(CHANGES, token=make_token("partner", [org["id"]])).status_code == 403


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_change_records_cannot_be_altered(api, admin, trail, method, changes):
    before = changes()
    for path in (CHANGES, f"{CHANGES}/1"):
        response = getattr(api, method)(path, token=admin, headers={"If-Match": "*"})
        assert response.status_code in (404, 405), path
    assert changes() == before


def test_history_is_readable_by_who_may_read_the_carrier_fully(
    api, admin, viewer, make_token, trail, org_factory
):
    carrier_id = trail["carrier"]["id"]
    url = f"/api/v1/carriers/{carrier_id}/history"
    own = make_token("operator", [trail["org"]["id"]])
    stranger = make_token("operator", [org_factory()["id"]])
    for token in (admin, viewer, own):
        response = api.get(url, token=token)
        assert response.status_code == 200
        assert response.headers["X-Total-Count"] == "2"
    assert api.get(url, token=stranger).status_code == 404  # applying: hidden
    assert api.get(url).status_code == 401
    assert api.get("/api/v1/carriers/999/history", token=admin).status_code == 404


def test_history_of_a_public_carrier_needs_full_read(
    api, admin, make_token, trail, accredit, org_factory
):
    accredit(trail["carrier"]["id"], "2024-01-10")
    url = f"/api/v1/carriers/{trail['carrier']['id']}/history"
    stranger = make_token("operator", [org_factory()["id"]])
    assert api.get(url, token=stranger).status_code == 403
    assert api.get(url).status_code == 401
    actions = [c["action"] for c in api.get(f"{url}?sort=at", token=admin).get_json()]
    assert actions == ["create", "update", "milestone"]
    assert api.get(f"{url}?action=milestone", token=admin).headers["X-Total-Count"] == "1"


def test_migration_2_upgrades_a_version_1_database(tmp_path):
    """A database made by step 1 before this step existed gains the columns, and carrier
    records are linked to their carrier."""
    from playhouse.migrate import SchemaMigrator, migrate

    from registry import create_app, schema
    from registry.models import Change

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'old.db'}", "TESTING": True})
    with app.app_context(), db.database.connection_context():
        schema.upgrade(up_to=1)
        migrator = SchemaMigrator.from_database(db.database.obj)
        migrate(
            migrator.drop_index("change", "change_carrier_id"),
            migrator.drop_index("change", "change_request_id"),
            migrator.drop_column("change", "carrier_id"),
            migrator.drop_column("change", "token_name"),
            migrator.drop_column("token", "version"),
            migrator.drop_column("carrier", "reviewed_at"),
            migrator.drop_column("carrier", "reviewed_by"),
        )
        db.database.execute_sql(
            'INSERT INTO "change" (created_at, updated_at, at, actor, action, object_type, '
            "object_id) VALUES ('2024-01-01', '2024-01-01', '2024-01-01', 'x', 'create', "
            "'carrier', 7)"
        )
        assert schema.upgrade() == [step.version for step in schema.steps() if step.version > 1]
        assert Change.get().carrier_id == 7
        columns = {c.name for c in db.database.get_columns("token")}
        assert "version" in columns
        assert schema.upgrade() == []


def test_snapshot_timestamps_are_local_with_offset(api, admin, carrier_factory):
    """Before/after snapshots show timestamps as the API does: configured zone, with offset
    (issue 14 item 11), not naive UTC."""
    carrier = carrier_factory()
    shown = api.get(f"/api/v1/carriers/{carrier['id']}", token=admin)
    patched = api.patch(
        f"/api/v1/carriers/{carrier['id']}",
        json={"description": "更新"},
        token=admin,
        headers={"If-Match": shown.headers["ETag"]},
    )
    assert patched.status_code == 200
    records = api.get(
        f"{CHANGES}?object_type=carrier&object_id={carrier['id']}", token=admin
    ).get_json()
    update = next(r for r in records if r["action"] == "update")
    assert update["before"]["created_at"] == carrier["created_at"]
    assert update["before"]["created_at"].endswith("+08:00")
    assert update["after"]["updated_at"] == patched.get_json()["updated_at"]
