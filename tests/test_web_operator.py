"""Operator pages (issue 13 items 4 and 6): my carriers, editing with the version carried in
the form (a stale edit is a conflict, never an overwrite), annual reports, alerts; field
errors from the API's own schemas; another organisation's hidden fields never shown."""

from __future__ import annotations

import re

import peewee as pw
import pytest

from registry.models import Alert, AnnualReport, Carrier, Change


@pytest.fixture
def two_hosts(org_factory, carrier_factory, accredit, scan_on, api, admin):
    """Two organisations, each hosting an accredited carrier with hidden fields set and
    alerts after a scan."""
    ours, theirs = org_factory(name="甲公司"), org_factory(name="乙公司")
    own = carrier_factory(host_organization_id=ours["id"], name="甲技能大师工作室")
    other = carrier_factory(
        host_organization_id=theirs["id"],
        name="乙技能大师工作室",
        lead_person="乙负责人秘密",
        contact={"name": "乙联系人", "phone": "13800000000"},
    )
    for carrier in (own, other):
        accredit(carrier["id"], "2020-01-10")
    scan_on("2021-01-20")
    return {"ours": ours, "theirs": theirs, "own": own, "other": other}


def _etag(html: str) -> str:
    return re.search(r'name="etag" value="([^"]+)"', html).group(1).replace("&#34;", '"')


def _edit_form(carrier: dict, **changes) -> dict:
    form = {
        "name": carrier["name"],
        "town": "",
        "lead_person": "",
        "established_on": "",
        "tags": "",
        "description": "",
        "contact_name": "",
        "contact_phone": "",
        "contact_email": "",
    }
    form.update(changes)
    return form


def test_my_carriers_lists_own_carriers_and_never_another_organisations_hidden_fields(
    page_client, two_hosts
):
    client = page_client("operator", [two_hosts["ours"]["id"]])
    page = client.get("/my/carriers")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "甲技能大师工作室" in html
    assert "乙技能大师工作室" not in html
    # The other organisation's carrier is public, but its hidden fields are not: the edit and
    # report pages refuse it, and no page shows its lead person or contact.
    other = two_hosts["other"]["id"]
    for path in (f"/my/carriers/{other}/edit", f"/my/carriers/{other}/annual-reports/new"):
        refused = client.get(path)
        assert refused.status_code == 403, path
        text = refused.get_data(as_text=True)
        assert "乙负责人秘密" not in text and "13800000000" not in text and "乙联系人" not in text


def test_operator_edits_a_carrier_through_the_guarded_write(page_client, two_hosts, api, admin):
    client = page_client("operator", [two_hosts["ours"]["id"]])
    own = two_hosts["own"]
    form = client.get(f"/my/carriers/{own['id']}/edit")
    assert form.status_code == 200
    etag = _etag(form.get_data(as_text=True))
    saved = client.form(
        f"/my/carriers/{own['id']}/edit",
        {"etag": etag, **_edit_form(own, description="新的简介", tags="智能制造，数控")},
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)
    after = api.get(f"/api/v1/carriers/{own['id']}", token=admin)
    assert after.get_json()["description"] == "新的简介"
    assert after.get_json()["tags"] == ["智能制造", "数控"]
    assert after.headers["ETag"] != etag


def test_a_stale_edit_shows_the_conflict_and_overwrites_nothing(
    page_client, two_hosts, api, admin, rows
):
    client = page_client("operator", [two_hosts["ours"]["id"]])
    own = two_hosts["own"]
    etag = _etag(client.get(f"/my/carriers/{own['id']}/edit").get_data(as_text=True))
    # Someone else saves first.
    current = api.get(f"/api/v1/carriers/{own['id']}", token=admin).headers["ETag"]
    other = api.patch(
        f"/api/v1/carriers/{own['id']}",
        json={"description": "别人先保存的简介"},
        token=admin,
        headers={"If-Match": current},
    )
    assert other.status_code == 200
    changes = rows(Change)
    stale = client.form(
        f"/my/carriers/{own['id']}/edit",
        {"etag": etag, **_edit_form(own, description="我的简介")},
    )
    assert stale.status_code == 409
    html = stale.get_data(as_text=True)
    assert "此载体已被他人修改" in html and "尚未保存" in html
    assert "别人先保存的简介" in html and "我的简介" in html
    assert rows(Change) == changes
    stored = api.get(f"/api/v1/carriers/{own['id']}", token=admin).get_json()
    assert stored["description"] == "别人先保存的简介"
    # The form now carries the current version: submitting again is a decision, and works.
    again = client.form(
        f"/my/carriers/{own['id']}/edit",
        {"etag": _etag(html), **_edit_form(own, description="我的简介")},
    )
    assert again.status_code == 302


def test_edit_errors_come_from_the_api_schema_next_to_their_field(
    page_client, two_hosts, rows, api, admin
):
    client = page_client("operator", [two_hosts["ours"]["id"]])
    own = two_hosts["own"]
    etag = _etag(client.get(f"/my/carriers/{own['id']}/edit").get_data(as_text=True))
    changes = rows(Change)
    refused = client.form(
        f"/my/carriers/{own['id']}/edit",
        {"etag": etag, **_edit_form(own, name="", established_on="2999-01-01")},
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="name-errors"' in html and 'id="established_on-errors"' in html
    assert 'aria-describedby="name-errors"' in html
    assert rows(Change) == changes
    # The very messages the API answers in Chinese for the same body.
    same = api.patch(
        f"/api/v1/carriers/{own['id']}",
        json={"name": "", "established_on": "2999-01-01"},
        token=admin,
        headers={"If-Match": etag, "Accept-Language": "zh-CN"},
    ).get_json()["errors"]
    for field in ("name", "established_on"):
        shown = re.search(rf'<ul class="field-errors" id="{field}-errors">(.*?)</ul>', html, re.S)
        assert [m.strip() for m in re.findall(r"<li>(.*?)</li>", shown.group(1))] == same[field]
        assert re.search("[\u4e00-\u9fff]", same[field][0])


def test_operator_submits_an_annual_report(page_client, two_hosts, rows):
    client = page_client("operator", [two_hosts["ours"]["id"]])
    own = two_hosts["own"]["id"]
    path = f"/my/carriers/{own}/annual-reports/new"
    page = client.get(path)
    assert page.status_code == 200 and 'name="metric_' in page.get_data(as_text=True)
    bad = client.form(path, {"year": "2020", "metric_apprentices_trained": "许多"})
    assert bad.status_code == 422
    assert 'id="metrics-errors"' in bad.get_data(as_text=True)
    assert rows(AnnualReport) == 0
    done = client.form(path, {"year": "2020", "metric_apprentices_trained": "12"})
    assert done.status_code == 302, done.get_data(as_text=True)
    report = AnnualReport.get()
    assert (report.carrier_id, report.year, report.metrics) == (
        own,
        2020,
        {"apprentices_trained": 12},
    )
    twice = client.form(path, {"year": "2020", "metric_apprentices_trained": "12"})
    assert twice.status_code == 422


def test_operator_acknowledges_an_alert_of_its_own_carrier_only(page_client, two_hosts, in_db):
    client = page_client("operator", [two_hosts["ours"]["id"]])
    with in_db():
        own_alert = Alert.select().where(Alert.carrier == two_hosts["own"]["id"]).first()
        other_alert = Alert.select().where(Alert.carrier == two_hosts["other"]["id"]).first()
    assert own_alert is not None and other_alert is not None
    assert client.form(f"/my/alerts/{other_alert.id}/acknowledge").status_code == 404
    done = client.form(f"/my/alerts/{own_alert.id}/acknowledge")
    assert done.status_code == 302
    with in_db():
        assert Alert.get_by_id(own_alert.id).status == "acknowledged"
        assert Alert.get_by_id(other_alert.id).status == "open"
        assert Carrier.get_by_id(two_hosts["own"]["id"]).status == "accredited"


def test_a_busy_database_is_a_page_saying_nothing_changed(page_client, two_hosts, monkeypatch):
    import sqlite3

    from registry import directory

    client = page_client("operator", [two_hosts["ours"]["id"]])

    def locked(args):
        raise pw.OperationalError("database is locked") from sqlite3.OperationalError(
            "database is locked"
        )

    monkeypatch.setattr(directory, "readable", locked)
    busy = client.get("/my/carriers")
    assert busy.status_code == 503
    assert busy.mimetype == "text/html" and busy.headers["Retry-After"] == "1"
    assert "未做任何修改" in busy.get_data(as_text=True)


def test_refusals_are_explained_in_chinese(page_client, two_hosts):
    client = page_client("operator", [two_hosts["ours"]["id"]], name="甲运营")
    refused = client.get(f"/my/carriers/{two_hosts['other']['id']}/edit")
    assert refused.status_code == 403 and refused.mimetype == "text/html"
    main = refused.get_data(as_text=True).split('<main id="main">')[1]
    text = re.sub(r"<[^>]+>", "", main)
    assert "无权访问" in text and "运营单位无权修改载体" in text
    assert not re.search("[A-Za-z]{3,}", text)
    missing = client.get("/my/carriers/999999/edit")
    assert missing.status_code == 404 and "载体" in missing.get_data(as_text=True)
