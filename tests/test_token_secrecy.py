"""A token is shown once: never in the logs, the audit trail, the outbox or a later answer."""

import json
import logging

from registry import db
from registry.access import hash_token


def test_tokens_never_leak_after_creation(app, api, caplog, org_factory):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="peewee")
    org = org_factory()

    result = app.test_cli_runner().invoke(
        args=["create-token", "--role", "bureau_admin", "--name", "首个管理员"]
    )
    admin = result.output.strip().splitlines()[-1]
    created = api.post(
        "/api/v1/tokens",
        json={"name": "高校", "role": "partner", "organizations": [org["id"]]},
        token=admin,
    )
    partner = created.get_json()["token"]
    token_id = created.get_json()["id"]
    rotated = api.post(
        "/api/v1/tokens",
        json={"name": "高校 2", "principal_id": created.get_json()["principal_id"]},
        token=admin,
    ).get_json()["token"]
    secrets = [admin, partner, rotated]

    # Use them, successfully and not, then revoke one.
    api.get("/api/v1/me", token=partner)
    api.post("/api/v1/organizations", json={"name": "x", "kind": "other"}, token=partner)
    api.get("/api/v1/me", token=partner + "x")
    etag = api.get(f"/api/v1/tokens/{token_id}", token=admin).headers["ETag"]
    api.delete(f"/api/v1/tokens/{token_id}", token=admin, headers={"If-Match": etag})
    api.get("/api/v1/me", token=partner)

    later = [
        api.get("/api/v1/tokens?page_size=100", token=admin),
        api.get(f"/api/v1/tokens/{token_id}", token=admin),
        api.get("/api/v1/changes?page_size=100", token=admin),
        api.get("/api/v1/me", token=admin),
        api.get("/api/v1/me", token=rotated),
    ]
    assert all(response.status_code == 200 for response in later)
    answers = "\n".join(response.get_data(as_text=True) for response in later)

    from registry.models import ALL_MODELS

    with app.app_context(), db.database.connection_context():
        stored = json.dumps(
            [list(model.select().dicts()) for model in ALL_MODELS], default=str, ensure_ascii=False
        )
    logs = caplog.text
    # The capture works: peewee logged the lookups, with the hash as a parameter.
    assert hash_token(partner) in logs
    for secret in secrets:
        assert secret not in logs
        assert secret not in answers
        assert secret not in stored
        assert hash_token(secret) not in answers
    changes = api.get("/api/v1/changes?object_type=token", token=admin).get_data(as_text=True)
    for secret in secrets:
        assert hash_token(secret) not in changes
