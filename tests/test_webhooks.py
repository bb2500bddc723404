"""/webhooks: subscriptions managed by the bureau admin, secrets shown once, target URLs kept
off internal addresses, every write audited and every bad input a problem that changes
nothing."""

from __future__ import annotations

import base64
import re
import socket

import pytest
from webhook_support import FakeDNS

from registry import db
from registry.models import Change, Webhook

HOOKS = "/api/v1/webhooks"


@pytest.fixture
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
def create_hook(api, admin, dns):
    def create(**fields) -> dict:
        body = {"url": "https://hooks.example.com/registry", **fields}
        response = api.post(HOOKS, json=body, token=admin)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return create


def count_rows(app, model, *where) -> int:
    with app.app_context(), db.database.connection_context():
        query = model.select()
        if where:
            query = query.where(*where)
        return query.count()


def test_admin_creates_a_webhook_and_sees_the_secret_once(app, api, admin, dns):
    response = api.post(
        HOOKS,
        json={
            "url": "https://hooks.example.com/registry",
            "description": "局办公系统",
            "events": ["carrier.created", "alert.*"],
        },
        token=admin,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]+={0,2}", body["secret"])
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"))) >= 24
    assert body["events"] == ["carrier.created", "alert.*"]
    assert body["format"] == "standard" and body["active"] is True
    assert body["filter"] == {} and body["has_robot_secret"] is False
    assert body["created_by"] == "bureau admin"
    assert response.headers["Location"] == f"{HOOKS}/{body['id']}"
    assert body["created_at"].endswith("+08:00")

    again = api.get(f"{HOOKS}/{body['id']}", token=admin)
    assert again.status_code == 200
    assert "secret" not in again.get_json()
    assert again.headers["ETag"] == f'"w{body["id"]}-v1"'
    listed = api.get(HOOKS, token=admin)
    assert listed.headers["X-Total-Count"] == "1"
    assert "secret" not in listed.get_json()[0]

    with app.app_context(), db.database.connection_context():
        change = Change.get((Change.object_type == "webhook") & (Change.object_id == body["id"]))
        assert change.action == "create" and change.actor == "bureau admin"
        assert body["secret"] not in str(change.after)
        # Stored in clear: it is the HMAC key (README, "Receiving webhooks").
        assert Webhook.get_by_id(body["id"]).secret == body["secret"]


@pytest.mark.parametrize("role", ["bureau_viewer", "operator", "partner"])
def test_only_the_bureau_admin_manages_webhooks(api, make_token, org_factory, create_hook, role):
    hook = create_hook()
    orgs = [org_factory()["id"]] if role in ("operator", "partner") else []
    token = make_token(role, orgs)
    assert api.get(HOOKS, token=token).status_code == 403
    assert api.post(HOOKS, json={"url": "https://x.example.com"}, token=token).status_code == 403
    assert api.get(f"{HOOKS}/{hook['id']}", token=token).status_code == 403
    assert api.post(f"{HOOKS}/{hook['id']}/ping", token=token).status_code == 403
    assert api.get(f"{HOOKS}/{hook['id']}/deliveries", token=token).status_code == 403


def test_anonymous_callers_get_401(api, create_hook):
    hook = create_hook()
    assert api.get(HOOKS).status_code == 401
    assert api.get(f"{HOOKS}/{hook['id']}/deliveries").status_code == 401


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8116/hook",
        "http://localhost/hook",
        "http://10.0.0.8/hook",
        "http://172.16.5.4/hook",
        "https://192.168.1.20/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[fd00::5]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://224.0.0.1/hook",
        "http://intranet.example.com/hook",
    ],
)
def test_non_public_targets_are_refused_at_creation(app, api, admin, dns, url):
    dns.records["localhost"] = "127.0.0.1"
    dns.records["intranet.example.com"] = "10.20.30.40"
    response = api.post(HOOKS, json={"url": url}, token=admin)
    assert response.status_code == 422
    assert "non-public" in response.get_json()["errors"]["url"][0]
    assert count_rows(app, Webhook) == 0
    assert count_rows(app, Change, Change.object_type == "webhook") == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/x", "Only http and https"),
        ("file:///etc/passwd", "Only http and https"),
        ("hooks.example.com/x", "Only http and https"),
        ("https:///x", "no host"),
        ("http://nowhere.invalid/x", "does not resolve"),
    ],
)
def test_bad_urls_are_422(app, api, admin, dns, url, message):
    dns.records["nowhere.invalid"] = None
    response = api.post(HOOKS, json={"url": url}, token=admin)
    assert response.status_code == 422
    assert message in response.get_json()["errors"]["url"][0]
    assert count_rows(app, Webhook) == 0


def test_a_name_resolving_to_any_private_address_is_refused(api, admin, monkeypatch):
    def two_answers(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.0.9", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", two_answers)
    response = api.post(HOOKS, json={"url": "https://split.example.com/"}, token=admin)
    assert response.status_code == 422
    assert "192.168.0.9" in response.get_json()["errors"]["url"][0]


def test_private_targets_allowed_by_setting(app, api, admin, dns):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    response = api.post(HOOKS, json={"url": "http://127.0.0.1:8116/hook"}, token=admin)
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["carrier.exploded"]}, "events"),
        ({"events": ["nothing.*"]}, "events"),
        ({"events": []}, "events"),
        ({"events": "carrier.created"}, "events"),
        ({"format": "slack"}, "format"),
        ({"robot_secret": "SECabc"}, "robot_secret"),
        ({"filter": {"type": ["spaceport"]}}, "filter"),
        ({"filter": {"organization_id": [2**70]}}, "filter"),
        ({"filter": {"organization_id": [999]}}, "filter"),
        ({"filter": {"colour": ["red"]}}, "filter"),
        ({"active": "sometimes"}, "active"),
        ({"secret": "whsec_mine"}, "secret"),
        ({"url": 12}, "url"),
        ({"url": "https://hooks.example.com/" + "x" * 3000}, "url"),
        ({"url": "https://hooks.example.com/a\x00b"}, "url"),
        ({"url": "https://hooks.example.com/a b"}, "url"),
        ({"url": "http://[::1"}, "url"),
        ({"url": "http://hooks.example.com:99999/"}, "url"),
        ({"description": "a\x00b"}, "description"),
        ({"format": "dingtalk", "robot_secret": "SEC\x00"}, "robot_secret"),
    ],
)
def test_invalid_fields_are_422_and_change_nothing(app, api, admin, dns, body, field):
    response = api.post(HOOKS, json={"url": "https://hooks.example.com/", **body}, token=admin)
    assert response.status_code == 422, response.get_json()
    assert response.content_type == "application/problem+json"
    assert field in {key.split(".")[0] for key in response.get_json()["errors"]}
    assert count_rows(app, Webhook) == 0


@pytest.mark.parametrize("body", [[1, 2], "text", 7, None])
def test_non_object_bodies_are_refused(app, api, admin, dns, body):
    response = api.post(HOOKS, json=body, token=admin)
    assert response.status_code in (400, 422)
    assert response.content_type == "application/problem+json"
    assert count_rows(app, Webhook) == 0


def test_patch_needs_if_match_and_audits_the_change(app, api, admin, create_hook):
    hook = create_hook()
    path = f"{HOOKS}/{hook['id']}"
    assert api.patch(path, json={"description": "新"}, token=admin).status_code == 428
    stale = api.patch(
        path, json={"description": "新"}, token=admin, headers={"If-Match": '"w0-v9"'}
    )
    assert stale.status_code == 412
    etag = api.get(path, token=admin).headers["ETag"]
    response = api.patch(
        path,
        json={"description": "园区系统", "events": ["milestone.recorded"], "format": "wecom"},
        token=admin,
        headers={"If-Match": etag},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["description"] == "园区系统" and body["format"] == "wecom"
    assert "secret" not in body
    assert response.headers["ETag"] == f'"w{hook["id"]}-v2"'
    with app.app_context(), db.database.connection_context():
        change = Change.get((Change.object_type == "webhook") & (Change.action == "update"))
        assert change.before["description"] is None
        assert change.after["events"] == ["milestone.recorded"]


def test_rotating_the_secret_shows_the_new_one_once(app, api, admin, create_hook):
    hook = create_hook()
    path = f"{HOOKS}/{hook['id']}"
    response = api.patch(
        path, json={"rotate_secret": True}, token=admin, headers={"If-Match": f'"w{hook["id"]}-v1"'}
    )
    assert response.status_code == 200
    new = response.get_json()["secret"]
    assert new.startswith("whsec_") and new != hook["secret"]
    with app.app_context(), db.database.connection_context():
        assert Webhook.get_by_id(hook["id"]).secret == new
        change = Change.get((Change.object_type == "webhook") & (Change.action == "update"))
        assert change.after["secret_rotated"] is True and new not in str(change.after)


def test_patch_to_a_private_url_is_refused_and_changes_nothing(app, api, admin, create_hook):
    hook = create_hook()
    response = api.patch(
        f"{HOOKS}/{hook['id']}",
        json={"url": "http://10.1.1.1/"},
        token=admin,
        headers={"If-Match": f'"w{hook["id"]}-v1"'},
    )
    assert response.status_code == 422
    after = api.get(f"{HOOKS}/{hook['id']}", token=admin)
    assert after.get_json()["url"] == hook["url"]
    assert after.headers["ETag"] == f'"w{hook["id"]}-v1"'


def test_robot_secret_is_write_only_and_for_dingtalk(api, admin, create_hook):
    hook = create_hook(
        url="https://oapi.dingtalk.com/robot/send?access_token=abc",
        format="dingtalk",
        robot_secret="SEC123",
    )
    assert hook["has_robot_secret"] is True and "robot_secret" not in hook
    response = api.patch(
        f"{HOOKS}/{hook['id']}",
        json={"format": "wecom"},
        token=admin,
        headers={"If-Match": f'"w{hook["id"]}-v1"'},
    )
    assert response.status_code == 422
    assert "robot_secret" in response.get_json()["errors"]


def test_filter_by_type_and_organisation_is_stored(api, org_factory, create_hook):
    org = org_factory()
    hook = create_hook(filter={"type": ["skill_master_studio"], "organization_id": [org["id"]]})
    assert hook["filter"] == {"type": ["skill_master_studio"], "organization_id": [org["id"]]}


def test_delete_needs_if_match_and_removes_the_log(app, api, admin, create_hook, requests_mock):
    hook = create_hook()
    requests_mock.post(hook["url"], status_code=204)
    assert api.post(f"{HOOKS}/{hook['id']}/ping", token=admin).status_code == 200
    path = f"{HOOKS}/{hook['id']}"
    assert api.delete(path, token=admin).status_code == 428
    assert api.delete(path, token=admin, headers={"If-Match": '"w1-v7"'}).status_code == 412
    assert (
        api.delete(path, token=admin, headers={"If-Match": f'"w{hook["id"]}-v1"'}).status_code
        == 204
    )
    assert api.get(path, token=admin).status_code == 404
    assert api.get(f"{path}/deliveries", token=admin).status_code == 404
    with app.app_context(), db.database.connection_context():
        assert Change.get((Change.object_type == "webhook") & (Change.action == "delete"))


def test_unknown_webhook_and_delivery_are_404(api, admin, create_hook):
    hook = create_hook()
    assert api.get(f"{HOOKS}/999", token=admin).status_code == 404
    assert api.get(f"{HOOKS}/{2**80}", token=admin).status_code == 404
    assert api.get(f"{HOOKS}/{hook['id']}/deliveries/5", token=admin).status_code == 404
    assert api.post(f"{HOOKS}/{hook['id']}/deliveries/5/redeliver", token=admin).status_code == 404
    assert api.post(f"{HOOKS}/999/ping", token=admin).status_code == 404


def test_list_filters_and_bad_filter_values(api, admin, create_hook):
    create_hook(description="甲")
    second = create_hook(description="乙", format="wecom")
    api.patch(
        f"{HOOKS}/{second['id']}",
        json={"active": False},
        token=admin,
        headers={"If-Match": f'"w{second["id"]}-v1"'},
    )
    assert api.get(f"{HOOKS}?active=false", token=admin).headers["X-Total-Count"] == "1"
    assert api.get(f"{HOOKS}?format=wecom", token=admin).get_json()[0]["description"] == "乙"
    assert api.get(f"{HOOKS}?q=甲", token=admin).headers["X-Total-Count"] == "1"
    assert api.get(f"{HOOKS}?format=slack", token=admin).status_code == 422
    assert api.get(f"{HOOKS}?sort=secret", token=admin).status_code == 422
    deliveries = f"{HOOKS}/{second['id']}/deliveries"
    assert api.get(f"{deliveries}?status=lost", token=admin).status_code == 422
    assert api.get(f"{deliveries}?success=perhaps", token=admin).status_code == 422
    assert api.get(f"{deliveries}?event_type=a%00b", token=admin).status_code == 422
    assert api.get(f"{deliveries}?page=99999999999999999999", token=admin).status_code == 422
    assert api.get(f"{HOOKS}?q=a%00b", token=admin).status_code == 422


def test_openapi_documents_the_webhook_endpoints(api):
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/webhooks",
        "/api/v1/webhooks/{webhook_id}",
        "/api/v1/webhooks/{webhook_id}/deliveries",
        "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}",
        "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
        "/api/v1/webhooks/{webhook_id}/ping",
    ):
        assert path in paths, path
