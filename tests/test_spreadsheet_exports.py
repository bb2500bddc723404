"""Exports (SPEC §8) on the demo data, and the round trip export → import dry run.

One database with the demo for the whole module (exports and dry runs write nothing), so the
demo is loaded once.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
from types import SimpleNamespace
from urllib.parse import unquote

import openpyxl
import pytest

from registry import create_app, db, spreadsheets

PG_URL = os.environ.get("REGISTRY_TEST_DATABASE_URL")
FORMULA_NAME = '=HYPERLINK("http://evil","点我")工作室'


def _truncate_postgres(database) -> None:
    tables = [name for name in database.get_tables() if name != "schema_version"]
    database.execute_sql(
        "TRUNCATE " + ", ".join(f'"{name}"' for name in tables) + " RESTART IDENTITY CASCADE"
    )


@pytest.fixture(scope="module")
def demo(template_db, tmp_path_factory):
    """The demo, tokens of every kind of caller, and one carrier with a contact and a name
    that is a formula."""
    from fixtures import loader
    from registry import carriers, tokens
    from registry.clock import today
    from registry.models import Carrier, Organization

    if PG_URL:
        url = PG_URL
    else:
        path = tmp_path_factory.mktemp("exports") / "registry.db"
        shutil.copy(template_db, path)
        url = f"sqlite:///{path}"
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SCHEDULER": False})
    with app.test_request_context(), db.database.connection_context():
        if PG_URL:
            _truncate_postgres(db.database.obj)
        loader.load_policies()
        loader.load_demo(today())
        gongniu = Organization.get(Organization.name == "公牛集团股份有限公司")
        own = Carrier.get(
            (Carrier.host_organization == gongniu.id) & (Carrier.status == "accredited")
        )
        carriers.update_carrier(
            own.id, {"contact": {"name": "王联系", "phone": "13812345678", "email": None}}
        )
        other = (
            Carrier.select()
            .where((Carrier.host_organization != gongniu.id) & (Carrier.status == "accredited"))
            .order_by(Carrier.id)
            .first()
        )
        carriers.update_carrier(
            other.id,
            {
                "name": FORMULA_NAME,
                "contact": {"name": "李保密", "phone": "13900000000", "email": None},
                "lead_person": "张保密",
            },
        )
        tokens_by_role = {
            role: tokens.create_principal_token(
                name=role, role=role, organization_ids=orgs, actor="tests"
            )[1]
            for role, orgs in (
                ("bureau_admin", []),
                ("bureau_viewer", []),
                ("operator", [gongniu.id]),
            )
        }
    yield SimpleNamespace(
        app=app, client=app.test_client(), own=own.id, other=other.id, **tokens_by_role
    )
    if not db.database.is_closed():
        db.database.close()


def get(demo, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = demo.client.get(path, headers=headers)
    response.get_data()  # a streamed answer ends (and frees its context) when read
    return response


def sheet_rows(response) -> list[list]:
    """The rows of an exported file, header first (CSV or XLSX alike)."""
    if response.mimetype == "text/csv":
        text = response.data.decode("utf-8")
        assert text.startswith("\ufeff")
        return [row for row in csv.reader(io.StringIO(text[1:]))]
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    assert len(book.worksheets) == 1
    return [list(row) for row in book.active.iter_rows(values_only=True)]


def as_dicts(rows: list[list]) -> list[dict]:
    return [dict(zip(rows[0], row, strict=False)) for row in rows[1:]]


def import_file(demo, data: bytes, name: str, dry_run=True):
    response = demo.client.post(
        f"/api/v1/carriers/import?dry_run={'true' if dry_run else 'false'}",
        headers={"Authorization": f"Bearer {demo.bureau_admin}"},
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )
    return response


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_demo_exported_and_reimported_in_a_dry_run_changes_nothing(demo, fmt):
    exported = get(demo, f"/api/v1/carriers/export?format={fmt}", demo.bureau_admin)
    assert exported.status_code == 200
    listed = get(demo, "/api/v1/carriers?page_size=100", demo.bureau_admin).get_json()
    rows = sheet_rows(exported)
    assert len(rows) - 1 == len(listed) == 30

    report = import_file(demo, exported.data, f"demo.{fmt}").get_json()

    assert report["errors"] == []
    assert (report["rows"], report["unchanged"]) == (30, 30)
    assert report["created"] == report["updated"] == 0
    assert report["organizations_created"] == []
    assert report["imported"] is False


def test_export_has_chinese_headers_labels_and_date_cells(demo):
    response = get(demo, "/api/v1/carriers/export?format=xlsx&sort=name", demo.bureau_admin)
    assert response.mimetype == spreadsheets.XLSX_MIMETYPE
    rows = sheet_rows(response)
    assert rows[0][:8] == [
        "编号",
        "名称",
        "类型",
        "级别",
        "状态",
        "依托单位",
        "统一社会信用代码",
        "所在镇街",
    ]
    for header in ("认定日期", "有效期至", "下次评估日期", "年报截止日期", "标签"):
        assert header in rows[0]
    items = as_dicts(rows)
    studios = [item for item in items if item["类型"] == "技能大师工作室"]
    assert len(studios) == 14
    assert {item["级别"] for item in studios} == {"省级", "宁波市级", "慈溪市级"}
    assert {item["状态"] for item in items} >= {"已认定"}
    accredited = next(item for item in items if item["认定日期"] is not None)
    # openpyxl reads a date cell back as a datetime; text would stay a str.
    assert isinstance(accredited["认定日期"], dt.datetime)
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    column = rows[0].index("认定日期") + 1
    assert book.active.cell(row=2, column=column).number_format == "yyyy-mm-dd"


def _as_csv_text(value) -> str:
    """A cell read from an XLSX export as the CSV export writes it."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    return spreadsheets.neutralise(str(value)) if isinstance(value, str) else str(value)


@pytest.mark.parametrize("read_only", [False, True])
def test_xlsx_export_holds_the_csv_export_cell_for_cell_with_typed_cells(demo, read_only):
    # The XLSX is written by registry.spreadsheets itself (not openpyxl): openpyxl reads it
    # back, in both of its modes, with the same cells as the CSV and the right cell types.
    xlsx = get(demo, "/api/v1/carriers/export?format=xlsx", demo.bureau_admin)
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data), read_only=read_only)
    sheet = book.active
    assert sheet.title == "人才载体名录"
    rows = list(sheet.iter_rows())
    header, first = rows[0], rows[1]
    assert all(cell.font.b for cell in header)
    headers = [cell.value for cell in header]
    assert headers[:3] == ["编号", "名称", "类型"]
    kinds = {column.header: column.kind for column in spreadsheets.CARRIER_COLUMNS}
    for cell, name in zip(first, headers, strict=True):
        if cell.value is None:
            continue
        if kinds[name] == "date":
            assert (cell.data_type, cell.number_format) == ("d", "yyyy-mm-dd"), name
            assert isinstance(cell.value, dt.datetime), name
        elif kinds[name] == "number":
            assert cell.data_type == "n" and isinstance(cell.value, int), name
        else:
            assert cell.data_type == "s" and isinstance(cell.value, str), name
    if not read_only:
        assert sheet.freeze_panes == "A2"
    csv_rows = sheet_rows(get(demo, "/api/v1/carriers/export?format=csv", demo.bureau_admin))
    # Empty cells are not written: read-only openpyxl ends a row at its last value.
    width = len(headers)
    xlsx_rows = [[_as_csv_text(cell.value) for cell in row] for row in rows]
    assert [row + [""] * (width - len(row)) for row in xlsx_rows] == csv_rows
    book.close()


def test_xlsx_writer_types_escapes_and_names_the_sheet(demo):
    row = [
        "甲 & <乙>",
        dt.date(2024, 2, 29),
        dt.datetime(2024, 3, 31, 4, 5, 6, tzinfo=dt.UTC),
        7,
        2.5,
        4.0,
        True,
        None,
        "=1+1",
        "-3",
        "行一\r\n行二\x01",
    ]
    with demo.app.app_context():
        data = b"".join(
            spreadsheets.xlsx_chunks(
                "清单[2024]/第一季度：很长很长很长很长很长很长很长很长的名称",
                list("ABCDEFGHIJK"),
                [row],
            )
        )
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.active
    assert sheet.title == "清单_2024__第一季度：很长很长很长很长很长很长很长很长的"  # 31 characters
    cells = list(sheet.iter_rows(min_row=2))[0]
    assert [cell.value for cell in cells] == [
        "甲 & <乙>",
        dt.datetime(2024, 2, 29),
        dt.datetime(2024, 3, 31, 12, 5, 6),  # the configured zone's wall time (UTC+8)
        7,
        2.5,
        4,
        "是",
        None,
        "=1+1",
        "-3",
        "行一\r\n行二",
    ]
    assert [cell.data_type for cell in cells] == list("sddnnnsnsss")
    assert cells[2].number_format == "yyyy-mm-dd h:mm:ss"


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_the_xlsx_export(demo, tmp_path):
    import subprocess

    xlsx = get(demo, "/api/v1/carriers/export?format=xlsx", demo.bureau_admin)
    (tmp_path / "export.xlsx").write_bytes(xlsx.data)
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1",
            "--outdir",
            str(tmp_path),
            str(tmp_path / "export.xlsx"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    converted = (tmp_path / "export.csv").read_text("utf-8")
    office = list(csv.reader(io.StringIO(converted.lstrip("\ufeff"))))
    ours = sheet_rows(get(demo, "/api/v1/carriers/export?format=csv", demo.bureau_admin))
    # LibreOffice shows the text as it is (ours neutralised), the dates in their format.
    assert office == [[spreadsheets.unneutralise(cell) for cell in row] for row in ours]


def test_carriers_read_only_to_be_shown_show_as_whole_rows_do(demo):
    # Exports read PRESENTED_COLUMNS only: every field the API shows must be among them.
    from registry import carriers
    from registry.models import Carrier

    with demo.app.app_context(), db.database.connection_context():
        ids = [carrier.id for carrier in Carrier.select(Carrier.id).order_by(Carrier.id)]
        whole = carriers.present(carriers.load_many(ids), set(ids))
        narrow = carriers.present(carriers.load_presented(ids), set(ids))
    assert narrow == whole
    assert any(item["contact"] for item in whole) and any(item["valid_until"] for item in whole)


def test_csv_export_is_utf8_with_bom_and_iso_dates(demo):
    response = get(demo, "/api/v1/carriers/export?format=csv", demo.bureau_admin)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.data.startswith(b"\xef\xbb\xbf\xe7\xbc\x96\xe5\x8f\xb7")  # BOM, 编号
    items = as_dicts(sheet_rows(response))
    dates = [item["认定日期"] for item in items if item["认定日期"]]
    assert all(dt.date.fromisoformat(day) for day in dates)


def test_content_disposition_has_an_ascii_name_and_a_utf8_filename_star(demo):
    response = get(demo, "/api/v1/carriers/export?format=csv", demo.bureau_admin)
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="carriers-')
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded).startswith("人才载体名录-carriers-")
    assert unquote(encoded).endswith(".csv")
    assert disposition.isascii()


def test_formula_cells_are_neutralised(demo):
    csv_rows = as_dicts(
        sheet_rows(get(demo, "/api/v1/carriers/export?format=csv", demo.bureau_admin))
    )
    assert "'" + FORMULA_NAME in {item["名称"] for item in csv_rows}

    response = get(demo, "/api/v1/carriers/export?format=xlsx", demo.bureau_admin)
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    cells = [row[1] for row in book.active.iter_rows(min_row=2)]
    formula = next(cell for cell in cells if cell.value == FORMULA_NAME)
    assert formula.data_type == "s"  # text, never evaluated
    assert all(cell.data_type != "f" for row in book.active.iter_rows() for cell in row)


def _hidden_headers() -> set[str]:
    from registry import access

    return {
        column.header
        for column in spreadsheets.CARRIER_COLUMNS
        if column.field not in access.PUBLIC_CARRIER_FIELDS
    }


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_anonymous_export_holds_public_columns_and_public_carriers_only(demo, fmt):
    response = get(demo, f"/api/v1/carriers/export?format={fmt}")
    assert response.status_code == 200
    rows = sheet_rows(response)
    assert not set(rows[0]) & _hidden_headers()
    items = as_dicts(rows)
    public = get(demo, "/api/v1/carriers?page_size=100").get_json()
    assert sorted(int(item["编号"]) for item in items) == sorted(c["id"] for c in public)
    assert {item["状态"] for item in items} == {"已认定"}
    text = response.data.decode("utf-8") if fmt == "csv" else str(rows)
    for secret in ("李保密", "13900000000", "张保密", "王联系", "13812345678"):
        assert secret not in text


def test_operator_export_shows_hidden_fields_of_its_own_carriers_only(demo):
    response = get(demo, "/api/v1/carriers/export?format=csv", demo.operator)
    items = {int(item["编号"]): item for item in as_dicts(sheet_rows(response))}
    assert items[demo.own]["联系人"] == "王联系"
    assert items[demo.own]["联系电话"] == "13812345678"
    other = items[demo.other]
    for header in _hidden_headers():
        assert other[header] == "", header
    assert "李保密" not in response.data.decode("utf-8")
    assert "张保密" not in response.data.decode("utf-8")


def test_export_refuses_hidden_filters_and_sorts_as_the_list_does(demo):
    for query in ("sort=next_evaluation_on", "evaluation_due_before=2030-01-01"):
        listed = get(demo, f"/api/v1/carriers?{query}", demo.operator)
        exported = get(demo, f"/api/v1/carriers/export?format=csv&{query}", demo.operator)
        assert listed.status_code == exported.status_code == 403
        assert exported.mimetype == "application/problem+json"
        assert exported.get_json()["errors"] == listed.get_json()["errors"]


def test_export_filters_and_sort_match_the_list(demo):
    query = "type=skill_master_studio&level_min=municipal&sort=-accredited_on"
    listed = get(demo, f"/api/v1/carriers?{query}&page_size=100", demo.bureau_viewer).get_json()
    rows = as_dicts(
        sheet_rows(get(demo, f"/api/v1/carriers/export?format=csv&{query}", demo.bureau_viewer))
    )
    assert [int(row["编号"]) for row in rows] == [carrier["id"] for carrier in listed]


def test_export_as_of_a_past_day_follows_the_list(demo):
    day = (dt.date.today() - dt.timedelta(days=3 * 365)).isoformat()
    listed = get(demo, f"/api/v1/carriers?as_of={day}&page_size=100").get_json()
    rows = as_dicts(sheet_rows(get(demo, f"/api/v1/carriers/export?format=csv&as_of={day}")))
    assert [int(row["编号"]) for row in rows] == [carrier["id"] for carrier in listed]
    assert [row["认定日期"] or None for row in rows] == [c["accredited_on"] for c in listed]


def test_bad_export_parameters_are_422(demo):
    response = get(demo, "/api/v1/carriers/export?format=pdf", demo.bureau_admin)
    assert response.status_code == 422
    assert "format" in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("alerts", {"载体名称", "预警类型", "到期日期", "状态"}),
        ("annual-reports", {"载体名称", "年度", "状态", "带徒人数"}),
        ("targets", {"目标名称", "目标值", "当前值", "进度状态"}),
    ],
)
def test_other_exports_follow_their_lists(demo, path, headers):
    listed = get(demo, f"/api/v1/{path}?page_size=100", demo.bureau_viewer)
    response = get(demo, f"/api/v1/{path}/export?format=csv", demo.bureau_viewer)
    assert response.status_code == 200
    rows = sheet_rows(response)
    assert headers <= set(rows[0])
    ids = [int(row["编号"]) for row in as_dicts(rows)]
    expected = [item["id"] for item in listed.get_json()]
    if int(listed.headers["X-Total-Count"]) <= 100:
        assert ids == expected
    else:
        assert ids[:100] == expected
    xlsx = get(demo, f"/api/v1/{path}/export?format=xlsx", demo.bureau_viewer)
    assert len(sheet_rows(xlsx)) == len(rows)
    assert get(demo, f"/api/v1/{path}/export?format=csv").status_code == 401


def test_operator_alert_export_holds_its_own_carriers_alerts_only(demo):
    rows = as_dicts(sheet_rows(get(demo, "/api/v1/alerts/export?format=csv", demo.operator)))
    listed = get(demo, "/api/v1/alerts?page_size=100", demo.operator).get_json()
    assert sorted(int(row["编号"]) for row in rows) == sorted(alert["id"] for alert in listed)
    assert get(demo, "/api/v1/targets/export", demo.operator).status_code == 403


def test_target_export_shows_live_progress(demo):
    rows = as_dicts(sheet_rows(get(demo, "/api/v1/targets/export?format=xlsx", demo.bureau_admin)))
    first = next(row for row in rows if "5000" in row["目标名称"])
    assert first["目标值"] == 5000
    assert first["进度状态"] in {"已完成", "进度正常", "进度滞后", "未完成"}
