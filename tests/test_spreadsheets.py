"""The carrier import (SPEC §8): every kind of bad row with its row and column, all or nothing,
idempotent, the same writes as the API; files as people really save them; the CLI."""

from __future__ import annotations

import io

import openpyxl
import pytest

from registry import db
from registry.models import Carrier, Change, Organization, OutboxEvent

HEADERS = ["名称", "类型", "级别", "依托单位", "统一社会信用代码", "成立日期", "标签"]
#: A valid credit code (DOMAIN.md) and a wrong one (check character).
USCC = "91350100M000100Y43"
BAD_USCC = "91350100M000100Y4Z"


def csv_bytes(rows: list[list[str]], headers=HEADERS, encoding="utf-8-sig") -> bytes:
    lines = [",".join(headers)] + [",".join(row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def xlsx_bytes(build) -> bytes:
    book = openpyxl.Workbook()
    build(book)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(api, token, data: bytes, name="carriers.csv", dry_run=None, form=None):
    query = "" if dry_run is None else f"?dry_run={'true' if dry_run else 'false'}"
    return api.client.post(
        f"/api/v1/carriers/import{query}",
        headers={"Authorization": f"Bearer {token}"} if token else {},
        data={"file": (io.BytesIO(data), name), **(form or {})},
        content_type="multipart/form-data",
    )


def errors_of(response) -> list[tuple[int, str | None, str]]:
    body = response.get_json()
    report = body if "errors" in body and isinstance(body["errors"], list) else body["report"]
    return [(e["row"], e["column"], e["message"]) for e in report["errors"]]


@pytest.fixture
def state(app):
    """``state()``: counts of everything an import may write (to prove nothing was)."""

    def counts() -> dict:
        with app.app_context(), db.database.connection_context():
            return {
                model.__name__: model.select().count()
                for model in (Carrier, Organization, Change, OutboxEvent)
            }

    return counts


GOOD = ["新载体甲", "技能大师工作室", "省级", "新公司甲", USCC, "2020-01-02", "电工；智能制造"]


# --- bad rows -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "column", "words"),
    [
        (
            ["载体", "大师工作室", "省级", "某公司", "", "", ""],
            "类型",
            "Not a carrier type: 大师工作室",
        ),
        (
            ["载体", "技能大师工作室", "省级", "某公司", BAD_USCC, "", ""],
            "统一社会信用代码",
            "Check character is 3, not Z",
        ),
        (
            ["载体", "技能大师工作室", "省级", "某公司", "", "2020-02-30", ""],
            "成立日期",
            "Not a date: 2020-02-30",
        ),
        (["载体", "技能大师工作室", "区级", "某公司", "", "", ""], "级别", "Not a level: 区级"),
        (["载体", "技能大师工作室", "省级", "某公司", "", "2999-01-01", ""], "成立日期", "future"),
        (["载体", "", "省级", "某公司", "", "", ""], "类型", "类型 is needed to create a carrier"),
        (["", "技能大师工作室", "省级", "某公司", "", "", ""], "名称", "名称 is needed"),
    ],
)
def test_each_bad_row_is_reported_with_its_row_and_column(api, admin, state, row, column, words):
    before = state()
    data = csv_bytes([GOOD, row])

    dry = upload(api, admin, data, dry_run=True)
    assert dry.status_code == 200
    assert dry.get_json()["created"] == 1  # the good row would still be created
    [(number, where, message)] = errors_of(dry)
    assert (number, where) == (3, column)
    assert words in message

    real = upload(api, admin, data)
    assert real.status_code == 422
    assert real.mimetype == "application/problem+json"
    assert errors_of(real) == errors_of(dry)
    assert list(real.get_json()["errors"]) == [f"row 3, {column}"]
    assert state() == before  # all or nothing: the good row was not written either


def test_every_bad_row_is_reported_not_just_the_first(api, admin):
    rows = [
        GOOD,
        ["乙", "不存在", "省级", "某公司", "", "", ""],
        ["丙", "技能大师工作室", "省级", "某公司", "", "昨天", ""],
        ["丁", "技能大师工作室", "省级", "某公司", BAD_USCC, "", ""],
    ]
    found = errors_of(upload(api, admin, csv_bytes(rows), dry_run=True))
    assert [(row, column) for row, column, _ in found] == [
        (3, "类型"),
        (4, "成立日期"),
        (5, "统一社会信用代码"),
    ]


def test_duplicate_rows_in_the_file_are_refused_at_the_second(api, admin, state):
    before = state()
    other = ["新载体乙", "众创空间", "省级", "新公司甲", USCC, "", ""]
    response = upload(api, admin, csv_bytes([GOOD, other, GOOD]))
    assert response.status_code == 422
    [(row, column, message)] = errors_of(response)
    assert (row, column) == (4, "名称")
    assert "same carrier as row 2" in message
    assert state() == before


def test_a_missing_required_column_refuses_the_sheet(api, admin, state):
    before = state()
    headers = ["名称", "级别", "依托单位"]
    response = upload(api, admin, csv_bytes([["甲", "省级", "某公司"]], headers))
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["类型"]
    assert state() == before


def test_a_row_over_the_row_limit_refuses_the_sheet_naming_it(api, admin, state):
    before = state()
    rows = [[f"载体{n}", "众创空间", "县级", "某公司", "", "", ""] for n in range(10_001)]
    response = upload(api, admin, csv_bytes(rows), dry_run=True)
    assert response.status_code == 422
    body = response.get_json()
    assert "more than 10,000 rows" in body["detail"]
    assert body["errors"] == {"row 10002": ["Row 10002 is the 10,001th carrier row."]}
    assert state() == before


def test_the_row_limit_comes_from_configuration(app, api, admin):
    app.config["IMPORT_MAX_ROWS"] = 2
    rows = [GOOD, ["乙", "众创空间", "省级", "某公司", "", "", ""]]
    assert upload(api, admin, csv_bytes(rows), dry_run=True).status_code == 200
    response = upload(
        api, admin, csv_bytes([*rows, ["丙", "众创空间", "省级", "某公司", "", "", ""]])
    )
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["row 4"]


def test_a_file_over_the_size_limit_is_413(app, api, admin, state):
    before = state()
    app.config["IMPORT_MAX_BYTES"] = 200
    response = upload(api, admin, csv_bytes([GOOD] * 5), dry_run=True)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert state() == before


def test_formulas_are_refused_with_their_cell(api, admin):
    def build(book):
        sheet = book.active
        sheet.append(HEADERS)
        sheet.append(GOOD)
        sheet.append(["乙", "技能大师工作室", "省级", "某公司", "", "=TODAY()", ""])

    [(row, column, message)] = errors_of(upload(api, admin, xlsx_bytes(build), "c.xlsx", True))
    assert (row, column) == (3, "成立日期")
    assert "formula" in message
    response = upload(api, admin, xlsx_bytes(build), "c.xlsx", True).get_json()
    assert response["errors"][0]["cell"] == "F3"


def test_a_level_edit_of_an_accredited_carrier_is_refused_at_its_column(
    api, admin, carrier_factory, accredit
):
    carrier = carrier_factory(level="county")
    accredit(carrier["id"], "2020-01-01")
    rows = [[str(carrier["id"]), carrier["name"], "省级"]]
    response = upload(api, admin, csv_bytes(rows, ["编号", "名称", "级别"]), dry_run=True)
    [(row, column, message)] = errors_of(response)
    assert (row, column) == (2, "级别")
    assert "level_changed milestone" in message


def test_an_unknown_id_is_a_bad_row(api, admin):
    response = upload(api, admin, csv_bytes([["999999", "某载体"]], ["编号", "名称"]), dry_run=True)
    assert errors_of(response) == [(2, "编号", "No carrier 999999: leave 编号 empty to create it.")]


# --- files that are not carrier sheets ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "status"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.png", 415),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old.xls", 415),
        (b"PK\x03\x04not really a zip", "broken.xlsx", 415),
        (b"", "empty.csv", 422),
        ("标题,备注\n一,二\n".encode(), "notes.csv", 422),
    ],
)
def test_what_is_no_carrier_sheet_gets_a_clear_4xx(api, admin, state, data, name, status):
    before = state()
    response = upload(api, admin, data, name)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"]
    assert state() == before


def test_no_file_field_is_422_and_a_json_body_is_not_an_upload(api, admin):
    response = api.client.post(
        "/api/v1/carriers/import",
        headers={"Authorization": f"Bearer {admin}"},
        data={"other": "x"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "file" in response.get_json()["errors"]
    response = api.client.post(
        "/api/v1/carriers/import",
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "text/plain"},
        data=b"hello",
    )
    assert response.status_code == 415
    assert "multipart/form-data" in response.get_json()["detail"]


def test_only_the_bureau_admin_imports(api, make_token, org_factory, state):
    org = org_factory()["id"]
    tokens = {
        role: make_token(role, [org] if role in ("operator", "partner") else [])
        for role in ("bureau_viewer", "operator", "partner")
    }
    before = state()
    data = csv_bytes([GOOD])
    assert upload(api, None, data).status_code == 401
    for role, token in tokens.items():
        assert upload(api, token, data).status_code == 403, role
    assert state() == before


# --- CSV and XLSX as people save them ---------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_csv_in_utf8_with_or_without_bom_and_gb18030(api, admin, encoding):
    data = csv_bytes([GOOD], encoding=encoding)
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
    report = upload(api, admin, data).get_json()
    assert report["created"] == 1 and report["errors"] == []
    carrier = api.get(f"/api/v1/carriers/{report['results'][0]['carrier_id']}", token=admin)
    assert carrier.get_json()["name"] == "新载体甲"
    assert carrier.get_json()["tags"] == ["电工", "智能制造"]


def test_xlsx_with_a_merged_title_row_a_notes_sheet_and_trailing_empty_rows(api, admin):
    def build(book):
        sheet = book.active
        sheet.title = "载体名录"
        sheet.append(["慈溪市人才载体名录（2026年）"])
        sheet.merge_cells("A1:G1")
        sheet.append(HEADERS)
        sheet.append(GOOD)
        sheet.append([])
        sheet.append(["新载体乙", "众创空间", "国家级", "新公司甲", USCC, None, None])
        for _ in range(30):
            sheet.append([None, "", "  "])
        notes = book.create_sheet("填表说明")
        notes.append(["类型请按下拉选择"])

    report = upload(api, admin, xlsx_bytes(build), "c.xlsx", dry_run=True).get_json()
    assert report["errors"] == []
    assert report["sheet"] == "载体名录"
    assert report["rows"] == 2
    assert [(r["row"], r["action"]) for r in report["results"]] == [(3, "create"), (5, "create")]
    assert len(report["organizations_created"]) == 1


def test_xlsx_with_merged_header_cells_is_refused_clearly(api, admin):
    def build(book):
        sheet = book.active
        sheet.append(["名称", "类型", "级别", "依托单位", None])
        sheet.merge_cells("D1:E1")
        sheet.append(["甲", "众创空间", "省级", "某公司", USCC])

    response = upload(api, admin, xlsx_bytes(build), "c.xlsx", dry_run=True)
    assert response.status_code == 422
    [(column, [message])] = response.get_json()["errors"].items()
    assert column == "E"
    assert "merged header cells" in message


def test_two_sheets_that_both_look_like_carrier_lists_are_refused(api, admin):
    def build(book):
        for title in ("一", "二"):
            sheet = book.create_sheet(title)
            sheet.append(HEADERS)
            sheet.append(GOOD)

    response = upload(api, admin, xlsx_bytes(build), "c.xlsx", dry_run=True)
    assert response.status_code == 422
    assert "一、二" in response.get_json()["detail"]


# --- real imports -------------------------------------------------------------------------------


def test_a_real_import_writes_through_the_domain_with_audit_and_events(app, api, admin, state):
    before = state()
    rows = [GOOD, ["新载体乙", "maker_space", "national", "新公司甲", USCC, "", ""]]
    response = upload(api, admin, csv_bytes(rows), form={"dry_run": "false"})
    assert response.status_code == 200
    report = response.get_json()
    assert report["imported"] is True
    assert (report["created"], report["updated"], report["unchanged"]) == (2, 0, 0)
    ids = [result["carrier_id"] for result in report["results"]]
    [host] = report["organizations_created"]
    after = state()
    assert after["Carrier"] == before["Carrier"] + 2
    assert after["Organization"] == before["Organization"] + 1
    with app.app_context(), db.database.connection_context():
        events = OutboxEvent.select().where(OutboxEvent.type == "carrier.created")
        assert sorted(event.carrier_id for event in events) == sorted(ids)
        carrier_changes = Change.select().where(
            (Change.object_type == "carrier") & Change.object_id.in_(ids)
        )
        assert {change.action for change in carrier_changes} == {"create"}
        [summary] = Change.select().where(Change.action == "import")
        assert summary.id == report["change_id"]
        assert [row["carrier_id"] for row in summary.after["results"]] == ids
        assert summary.actor == "bureau admin"
        assert Organization.get_by_id(host["id"]).uscc == USCC
    second = api.get(f"/api/v1/carriers/{ids[1]}", token=admin).get_json()
    assert (second["type"], second["level"], second["status"]) == (
        "maker_space",
        "national",
        "applying",
    )
    assert second["host_organization_id"] == host["id"]


def test_reimporting_the_same_file_changes_nothing(api, admin, state):
    data = csv_bytes([GOOD])
    assert upload(api, admin, data).get_json()["created"] == 1
    before = state()
    report = upload(api, admin, data).get_json()
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 1)
    assert report["change_id"] is None
    assert state() == before


def test_an_edited_row_updates_only_what_changed(app, api, admin, carrier_factory):
    carrier = carrier_factory(description="旧简介", tags=["甲"])
    headers = ["编号", "名称", "简介", "标签", "联系电话"]
    rows = [[str(carrier["id"]), carrier["name"], "新简介", "甲", "13812345678"]]
    report = upload(api, admin, csv_bytes(rows, headers)).get_json()
    assert report["results"] == [
        {
            "row": 2,
            "action": "update",
            "carrier_id": carrier["id"],
            "name": carrier["name"],
            "changed": ["contact", "description"],
        }
    ]
    shown = api.get(f"/api/v1/carriers/{carrier['id']}", token=admin).get_json()
    assert shown["description"] == "新简介"
    assert shown["contact"]["phone"] == "13812345678"
    with app.app_context(), db.database.connection_context():
        event = OutboxEvent.select().where(OutboxEvent.type == "carrier.updated").get()
        assert {"contact", "description"} <= set(event.data["changed"])
        assert "tags" not in event.data["changed"]


def test_rows_match_by_name_and_host_credit_code(api, admin, org_factory, carrier_factory):
    host = org_factory(uscc=USCC)
    carrier = carrier_factory(host_organization_id=host["id"], name="已有载体", level="county")
    rows = [["已有载体", "技能大师工作室", "慈溪市级", "别名也行", USCC, "", "新标签"]]
    report = upload(api, admin, csv_bytes(rows)).get_json()
    assert report["organizations_created"] == []
    assert [(r["action"], r["carrier_id"]) for r in report["results"]] == [
        ("update", carrier["id"])
    ]


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_export_then_import_round_trip(app, tmp_path, carrier_factory):
    carrier_factory(name="命令行载体")
    runner = app.test_cli_runner()
    target = tmp_path / "out.csv"
    result = runner.invoke(args=["export", "--format", "csv", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")
    assert "命令行载体" in target.read_text(encoding="utf-8-sig")

    result = runner.invoke(args=["import", str(target), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert (
        "Dry run: 1 row(s): 0 carrier(s) would be created, 0 updated, 1 unchanged" in result.output
    )

    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([["甲", "不存在", "省级", "某公司", "", "", ""]]))
    result = runner.invoke(args=["import", str(bad)])
    assert result.exit_code == 1
    assert "row 2, 类型: Not a carrier type: 不存在" in result.output

    result = runner.invoke(args=["export", "-o", str(tmp_path / "x.xlsx"), "--level", "bogus"])
    assert result.exit_code == 2
    assert "--level" in result.output


def test_cli_import_writes(app, tmp_path, state):
    before = state()
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes([GOOD]))
    result = app.test_cli_runner().invoke(args=["import", str(good)])
    assert result.exit_code == 0, result.output
    assert "1 carrier(s) were created" in result.output
    assert state()["Carrier"] == before["Carrier"] + 1
