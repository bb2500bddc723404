"""HTTP caching: ETags per representation, Vary, no-store on secrets, 304 documented,
absolute Link URLs, and ETags that cover every field of the body."""

from __future__ import annotations

import re
import socket

from webhook_support import FakeDNS

from registry.api.common import ETAG_PREFIXES

CARRIERS = "/api/v1/carriers"


def test_public_and_full_view_of_a_carrier_have_different_etags(
    api, admin, carrier_factory, record
):
    carrier = carrier_factory()
    record(carrier["id"], "accredited", "2024-03-01")
    url = f"{CARRIERS}/{carrier['id']}"
    public = api.get(url)
    full = api.get(url, token=admin)
    assert public.status_code == full.status_code == 200
    assert public.headers["ETag"] != full.headers["ETag"]
    assert re.fullmatch(r'"c\d+-v\d+"', full.headers["ETag"])  # SPEC's "c12-v7"
    # A signed-in client holding the public body's ETag gets the full body, not a 304.
    again = api.get(url, token=admin, headers={"If-None-Match": public.headers["ETag"]})
    assert again.status_code == 200
    assert "next_evaluation_on" in again.get_json()
    assert api.get(url, headers={"If-None-Match": public.headers["ETag"]}).status_code == 304
    # The public ETag is no If-Match for an edit of the full representation.
    stale = api.patch(
        url, json={"description": "x"}, token=admin, headers={"If-Match": public.headers["ETag"]}
    )
    assert stale.status_code == 412


def test_answers_vary_on_what_selects_the_representation(api, admin, carrier_factory):
    carrier = carrier_factory()
    for response in (api.get(CARRIERS), api.get(f"{CARRIERS}/{carrier['id']}", token=admin)):
        vary = {part.strip().lower() for part in response.headers["Vary"].split(",")}
        assert {"authorization", "accept-language"} <= vary


def test_answers_showing_a_secret_are_not_stored(api, admin, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", FakeDNS())
    created = api.post("/api/v1/webhooks", json={"url": "https://hooks.example.com/x"}, token=admin)
    assert created.status_code == 201
    assert "secret" in created.get_json()
    assert created.headers["Cache-Control"] == "no-store"
    url = f"/api/v1/webhooks/{created.get_json()['id']}"
    rotated = api.patch(
        url,
        json={"rotate_secret": True},
        token=admin,
        headers={"If-Match": created.headers["ETag"]},
    )
    assert rotated.status_code == 200 and "secret" in rotated.get_json()
    assert rotated.headers["Cache-Control"] == "no-store"
    edited = api.patch(
        url, json={"description": "d"}, token=admin, headers={"If-Match": rotated.headers["ETag"]}
    )
    assert "no-store" not in edited.headers.get("Cache-Control", "")


def test_link_urls_are_absolute(api, admin, org_factory):
    for _ in range(3):
        org_factory()
    response = api.get("/api/v1/organizations?page_size=1", token=admin)
    links = re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["Link"])
    assert {rel for _, rel in links} == {"first", "next", "last"}
    for url, _ in links:
        assert url.startswith("http://localhost/api/v1/organizations?"), url


#: Reads whose answer changes without the object's version: a target's progress, a
#: campaign's covered_count.
NEVER_NOT_MODIFIED = {
    "/api/v1/targets/{target_id}",
    "/api/v1/evaluation-campaigns/{campaign_id}",
}


def test_every_single_resource_get_documents_etag_and_304(api):
    spec = api.get("/api/v1/openapi.json").get_json()
    checked = 0
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if not get or not path.endswith("}") or "200" not in get["responses"]:
            continue
        ok = get["responses"]["200"]
        if "ETag" not in ok.get("headers", {}):
            continue  # not a versioned object (e.g. a delivery of the log)
        checked += 1
        if path in NEVER_NOT_MODIFIED:
            continue  # the answer moves without the version: never a 304, documented so
        assert "304" in get["responses"], path
        assert "ETag" in get["responses"]["304"]["headers"], path
        names = {
            p.get("name") for p in get.get("parameters", []) + operations.get("parameters", [])
        }
        assert "If-None-Match" in names, path
    assert checked >= 8


def test_etag_prefixes_are_distinct():
    assert len(ETAG_PREFIXES) == len(set(ETAG_PREFIXES.values()))
    assert ETAG_PREFIXES["c"] == "carriers"
    for prefix in ETAG_PREFIXES:
        others = [other for other in ETAG_PREFIXES if other != prefix]
        # No prefix followed by digits reads as another prefix's ETag.
        assert not any(
            other.startswith(prefix) and other[len(prefix) :].isdigit() for other in others
        )


def test_etag_changes_when_the_scan_opens_an_alert(api, admin, carrier_factory, accredit, scan_on):
    carrier = carrier_factory()
    accredit(carrier["id"], "2020-01-10")
    url = f"{CARRIERS}/{carrier['id']}"
    before = api.get(url, token=admin)
    assert before.get_json()["open_alert_count"] == 0
    scan_on("2021-01-20")  # evaluation overdue and report due
    after = api.get(url, token=admin, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.get_json()["open_alert_count"] > 0
    assert after.headers["ETag"] != before.headers["ETag"]
    # And back: the scan that resolves them moves the ETag again.
    assert (
        api.get(url, token=admin, headers={"If-None-Match": after.headers["ETag"]}).status_code
        == 304
    )
