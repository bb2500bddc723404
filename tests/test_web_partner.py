"""Partner pages and the bureau's review queue (issue 13 items 5 and 6): a partner registers
a joint training base and edits it until it is reviewed; the bureau admin approves or
rejects it with the reason; forms are checked by the API's registration schemas."""

from __future__ import annotations

import re

import pytest

from registry import uscc
from registry.models import Carrier, Change

UNIVERSITY_CODE = "12330200000000001" + uscc.check_character("12330200000000001")


@pytest.fixture
def partner_org(org_factory):
    return org_factory(name="慈溪职业技术学院", kind="university")


def _form(partner_org, **changes) -> dict:
    form = {
        "name": "智能制造实习实践基地",
        "level": "county",
        "town": "",
        "description": "",
        "host": "other",
        "host_uscc": "91330282000000009" + uscc.check_character("91330282000000009"),
        "host_name": "某某电器有限公司",
        "partner_0_org": str(partner_org["id"]),
        "partner_0_role": "university",
        "contact_name": "陈老师",
        "contact_phone": "13900000000",
    }
    form.update(changes)
    return form


def _etag(html: str) -> str:
    return re.search(r'name="etag" value="([^"]+)"', html).group(1).replace("&#34;", '"')


def test_partner_registers_a_base_and_sees_it(page_client, partner_org, in_db):
    client = page_client("partner", [partner_org["id"]])
    assert client.get("/my/registrations/new").status_code == 200
    done = client.form("/my/registrations/new", _form(partner_org))
    assert done.status_code == 302, done.get_data(as_text=True)
    with in_db():
        carrier = Carrier.get(Carrier.name == "智能制造实习实践基地")
    assert (carrier.status, carrier.type) == ("submitted", "joint_training_base")
    listed = client.get("/my/registrations").get_data(as_text=True)
    assert "智能制造实习实践基地" in listed and "待审核" in listed


def test_registration_errors_come_from_the_api_schema(page_client, partner_org, rows):
    client = page_client("partner", [partner_org["id"]])
    refused = client.form(
        "/my/registrations/new",
        _form(partner_org, contact_name="", contact_phone="", host_uscc="123", name=""),
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    for field in ("name", "contact", "host_uscc"):
        assert f'id="{field}-errors"' in html, field
    assert rows(Carrier) == 0


def test_partner_edits_until_reviewed_and_a_stale_edit_is_refused(
    page_client, partner_org, in_db, rows
):
    client = page_client("partner", [partner_org["id"]])
    client.form("/my/registrations/new", _form(partner_org))
    with in_db():
        registration = Carrier.get(Carrier.name == "智能制造实习实践基地").id
    path = f"/my/registrations/{registration}/edit"
    etag = _etag(client.get(path).get_data(as_text=True))
    saved = client.form(path, {"etag": etag, **_form(partner_org, description="一期")})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    changes = rows(Change)
    stale = client.form(path, {"etag": etag, **_form(partner_org, description="二期")})
    assert stale.status_code == 409
    assert "已被他人修改" in stale.get_data(as_text=True)
    assert rows(Change) == changes
    with in_db():
        assert Carrier.get_by_id(registration).description == "一期"


def test_admin_approves_and_rejects_from_the_queue(page_client, partner_org, in_db):
    partner = page_client("partner", [partner_org["id"]])
    partner.form("/my/registrations/new", _form(partner_org))
    partner.form("/my/registrations/new", _form(partner_org, name="第二个基地"))
    with in_db():
        first = Carrier.get(Carrier.name == "智能制造实习实践基地").id
        second = Carrier.get(Carrier.name == "第二个基地").id
    admin = page_client("bureau_admin")
    queue = admin.get("/review").get_data(as_text=True)
    assert "智能制造实习实践基地" in queue and "第二个基地" in queue
    assert admin.get(f"/review/{first}").status_code == 200
    approved = admin.form(
        f"/review/{first}/approve",
        {"status": "accredited", "certificate_no": "CX-2026-01", "comment": "材料齐全"},
    )
    assert approved.status_code == 302, approved.get_data(as_text=True)
    blank = admin.form(f"/review/{second}/reject", {"reason": "  "})
    assert blank.status_code == 422 and 'id="reason-errors"' in blank.get_data(as_text=True)
    rejected = admin.form(f"/review/{second}/reject", {"reason": "合作协议缺少盖章页"})
    assert rejected.status_code == 302
    with in_db():
        assert Carrier.get_by_id(first).status == "accredited"
        assert Carrier.get_by_id(first).certificate_no == "CX-2026-01"
        assert Carrier.get_by_id(second).status == "rejected"
    mine = partner.get("/my/registrations").get_data(as_text=True)
    assert "合作协议缺少盖章页" in mine and "已认定" in mine
    # Reviewed: no more edits.
    edit = partner.get(f"/my/registrations/{first}/edit")
    assert edit.status_code == 302


def test_a_viewer_reads_the_queue_but_does_not_review(page_client, partner_org, in_db):
    page_client("partner", [partner_org["id"]]).form("/my/registrations/new", _form(partner_org))
    with in_db():
        registration = Carrier.get(Carrier.name == "智能制造实习实践基地").id
    viewer = page_client("bureau_viewer")
    assert viewer.get("/review").status_code == 200
    refused = viewer.form(f"/review/{registration}/reject", {"reason": "不行"})
    assert refused.status_code == 403
    operator = page_client("operator", [partner_org["id"]])
    assert operator.get("/review").status_code == 403


def test_nested_errors_name_the_row_and_the_field(page_client, partner_org):
    client = page_client("partner", [partner_org["id"]])
    refused = client.form(
        "/my/registrations/new",
        _form(partner_org, partner_0_org="", partner_0_uscc="12345", partner_0_name="某公司"),
    )
    assert refused.status_code == 422
    errors = re.search(r'id="partners-errors">(.*?)</ul>', refused.get_data(as_text=True), re.S)
    assert "合作单位 1 · 统一社会信用代码：" in errors.group(1)
