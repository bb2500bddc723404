"""Secrets in the audit trail (issue 9, defect 6): robot tokens in URLs, signing and robot
secrets and feed keys are redacted when the record is written, for every reader."""

from __future__ import annotations

import socket

import pytest
from webhook_support import FakeDNS

from registry import audit

HOOKS = "/api/v1/webhooks"
DINGTALK = "https://oapi.dingtalk.com/robot/send?access_token=DING-TOKEN-7f3a"
WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=WECOM-KEY-93be&debug=1"
SECRETS = ("DING-TOKEN-7f3a", "WECOM-KEY-93be", "SEC-ROBOT-55aa")


@pytest.fixture(autouse=True)
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


def test_a_viewer_reading_webhook_changes_sees_no_robot_token_nor_secret(
    api, admin, viewer, changes
):
    created = api.post(
        HOOKS,
        json={"url": DINGTALK, "format": "dingtalk", "robot_secret": "SEC-ROBOT-55aa"},
        token=admin,
    ).get_json()
    path = f"{HOOKS}/{created['id']}"
    etag = api.get(path, token=admin).headers["ETag"]
    updated = api.patch(
        path,
        json={"url": WECOM, "format": "wecom", "robot_secret": None, "rotate_secret": True},
        token=admin,
        headers={"If-Match": etag},
    )
    assert updated.status_code == 200, updated.get_json()
    signing_secrets = (created["secret"], updated.get_json()["secret"])
    etag = updated.headers["ETag"]
    assert api.delete(path, token=admin, headers={"If-Match": etag}).status_code == 204

    assert api.get(HOOKS, token=viewer).status_code == 403
    response = api.get("/api/v1/changes?object_type=webhook", token=viewer)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert len(response.get_json()) == 3
    for secret in SECRETS + signing_secrets:
        assert secret not in text
    # Redacted when written: the stored records hold no secret either.
    stored = str(changes())
    for secret in SECRETS + signing_secrets:
        assert secret not in stored
    # What is not secret stays readable.
    urls = [c["after"]["url"] for c in response.get_json() if c.get("after")]
    assert "https://oapi.dingtalk.com/robot/send?access_token=REDACTED" in urls
    assert "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=REDACTED&debug=1" in urls


@pytest.mark.parametrize(
    "url, expected",
    [
        (DINGTALK, "https://oapi.dingtalk.com/robot/send?access_token=REDACTED"),
        ("https://u:pw@hooks.example.com/x?a=1", "https://u:REDACTED@hooks.example.com/x?a=1"),
        ("https://hooks.example.com/x?a=1&b=2", "https://hooks.example.com/x?a=1&b=2"),
        ("https://hooks.example.com/x?Token=abc", "https://hooks.example.com/x?Token=REDACTED"),
        ("/api/v1/calendar.ics?key=crf_abc", "/api/v1/calendar.ics?key=REDACTED"),
    ],
)
def test_redact_url(url, expected):
    assert audit.redact_url(url) == expected


def test_redact_secrets_walks_any_snapshot():
    snapshot = {
        "secret": "whsec_x",
        "robot_secret": None,
        "nested": [{"callback_url": DINGTALK, "feed_key": "crf_1"}],
        "name": "kept",
    }
    assert audit.redact_secrets(snapshot) == {
        "secret": "REDACTED",
        "robot_secret": None,
        "nested": [
            {
                "callback_url": "https://oapi.dingtalk.com/robot/send?access_token=REDACTED",
                "feed_key": "REDACTED",
            }
        ],
        "name": "kept",
    }
