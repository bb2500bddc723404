"""Spreadsheets in and out (SPEC §8): carrier, alert, annual-report and target exports as
CSV or XLSX, and the carrier import with its dry run.

Exports
    :func:`export_carriers` ``(who, args, fmt) -> (filename, mimetype, chunks)`` is the one
    carrier export: the API (``GET /carriers/export``), the CLI (``registry export``) and the
    pages call it. It reads through :mod:`registry.directory` exactly as the list does
    (filters, sort, ``as_of``, the 403 on hidden filters and sorts), so a cell holds a
    field only when the caller may read that field of that carrier:

    * columns are those of :data:`CARRIER_COLUMNS`; a caller without a token gets the
      **public columns only** (the hidden ones are absent), any token holder gets every
      column, and the cells of hidden fields are **empty** on the rows of carriers it may
      not read fully (another organisation's carriers);
    * headers are Chinese, codes are shown as their labels (:mod:`registry.vocabulary`),
      dates are date cells in XLSX and ``YYYY-MM-DD`` in CSV;
    * CSV is UTF-8 with a BOM (so Excel shows Chinese), rows written as they are read;
      XLSX is written to a temporary file, then streamed; the database is read in chunks of
      :data:`CHUNK` carriers, so memory does not grow with the number of rows;
    * the XLSX is written here (:func:`xlsx_chunks`: the sheet's XML as rows come, inline
      strings, dates as numbers with a date style, a frozen bold header row), not with
      openpyxl's write-only workbook: that one builds a cell object and an lxml element
      per cell, more than half of a 100,000-row export (about 11 s of its 20 s of CPU;
      the whole export now takes 6 s of CPU). openpyxl still reads every import, and the
      tests read each export back with it (and with LibreOffice, when installed);
    * a text cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab / carriage return) is
      neutralised: XLSX stores it as an inline string cell (never a formula), CSV prefixes
      it with ``'`` (the import strips that prefix again, so an export imports back
      unchanged).

    Alerts, annual reports and target progress export the same way
    (:func:`export_table`), each from the same scoped query as its list.

Import
    :func:`import_carriers` reads an XLSX or CSV (UTF-8 with or without BOM, or GB18030)
    with the export's headers, checks every row and, unless it is a dry run and when no row
    is bad, writes through :mod:`registry.carriers` and :mod:`registry.organizations` (the
    API's domain functions: same validation, audit records and events) in one write
    transaction, plus one ``import`` audit record listing its rows. See its docstring.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import current_app, g
from marshmallow import ValidationError

from registry import access, audit, carriers, clock, db, directory, organizations, vocabulary
from registry import uscc as uscc_module
from registry.errors import DomainError
from registry.models import Carrier, Organization, Principal

#: Carriers read from the database at a time while exporting.
CHUNK = 500
#: Bytes of the temporary XLSX file sent at a time.
FILE_CHUNK = 64 * 1024
#: zlib level of the XLSX parts: 1 compresses the 89 MB of XML of a 100,000-row sheet in
#: 0.2 s of CPU against 0.7 s at the default 6, for a file a fifth larger (5.8 MB, not 4.8).
XLSX_COMPRESSION = 1
#: Flask adds ``; charset=utf-8`` to a text type.
CSV_MIMETYPE = "text/csv"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MIMETYPES = {"csv": CSV_MIMETYPE, "xlsx": XLSX_MIMETYPE}
FORMATS = tuple(MIMETYPES)
BOM = "\ufeff"
#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Separator of list cells (tags, partners); the import also splits on ``;``.
LIST_SEPARATOR = "；"
#: Characters XML (hence XLSX) cannot hold.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


# --- columns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a sheet: its Chinese header, the API field it shows (which decides
    whether it is public), how the cell is made from an item, and what the import does."""

    key: str
    header: str
    field: str
    kind: str = "text"  # text | date | number
    value: Callable[[dict], Any] | None = None
    #: The code list (a key of :func:`_labels`) whose label the cell shows for a code.
    coded: str | None = None
    #: Shown for information only: the import ignores it (the lifecycle owns it).
    read_only: bool = False
    aliases: tuple[str, ...] = field(default=())

    def cell(self, item: dict, labels: dict[str, dict[str, str]] | None = None) -> Any:
        """The cell of ``item`` (``labels``: :func:`_labels`, read once per sheet)."""
        value = self.value(item) if self.value is not None else item.get(self.field)
        if self.coded is not None and value is not None:
            return (labels or _labels())[self.coded].get(value, value)
        return value


def _labels() -> dict[str, dict[str, str]]:
    """Code → label of every coded carrier column (level labels come from configuration)."""
    return {
        "type": vocabulary.CARRIER_TYPES,
        "level": vocabulary.level_labels(current_app.config),
        "status": vocabulary.CARRIER_STATUSES,
        "partner_role": vocabulary.PARTNER_ROLES,
    }


def _label(kind: str, code: str | None) -> str | None:
    if code is None:
        return None
    return _labels()[kind].get(code, code)


def _host(key: str) -> Callable[[dict], Any]:
    return lambda item: (item.get("host_organization") or {}).get(key)


def _contact(key: str) -> Callable[[dict], Any]:
    return lambda item: (item.get("contact") or {}).get(key) if "contact" in item else None


def _partners(item: dict) -> str | None:
    if "partners" not in item:
        return None
    return LIST_SEPARATOR.join(
        f"{partner['name']}（{_label('partner_role', partner['role'])}）"
        for partner in item["partners"]
    )


def _tags(item: dict) -> str | None:
    return LIST_SEPARATOR.join(item["tags"]) if "tags" in item else None


#: The carrier sheet, in column order: the export writes these, the import reads them.
CARRIER_COLUMNS: tuple[Column, ...] = (
    Column("id", "编号", "id", "number", aliases=("id",)),
    Column("name", "名称", "name", aliases=("name", "载体名称")),
    Column("type", "类型", "type", coded="type"),
    Column("level", "级别", "level", coded="level"),
    Column("status", "状态", "status", coded="status", read_only=True),
    Column("host_name", "依托单位", "host_organization", value=_host("name")),
    Column("host_uscc", "统一社会信用代码", "host_organization", value=_host("uscc")),
    Column("town", "所在镇街", "town"),
    Column("tags", "标签", "tags", value=_tags),
    Column("partners", "合作单位", "partners", value=_partners, read_only=True),
    Column("lead_person", "负责人", "lead_person"),
    Column("contact_name", "联系人", "contact", value=_contact("name")),
    Column("contact_phone", "联系电话", "contact", value=_contact("phone")),
    Column("contact_email", "联系邮箱", "contact", value=_contact("email")),
    Column("established_on", "成立日期", "established_on", "date"),
    Column("accredited_on", "认定日期", "accredited_on", "date", read_only=True),
    Column("certificate_no", "证书编号", "certificate_no", read_only=True),
    Column("valid_until", "有效期至", "valid_until", "date"),
    Column("next_evaluation_on", "下次评估日期", "next_evaluation_on", "date"),
    Column("next_report_due_on", "年报截止日期", "next_report_due_on", "date", read_only=True),
    Column("open_alert_count", "未处理预警数", "open_alert_count", "number", read_only=True),
    Column("description", "简介", "description"),
)
for _column in CARRIER_COLUMNS:
    # The JSON field name is accepted as a header too (a sheet made by a script).
    if _column.key not in _column.aliases and not _column.read_only:
        object.__setattr__(_column, "aliases", (*_column.aliases, _column.key))


def carrier_columns(who: Principal | None) -> tuple[Column, ...]:
    """The carrier columns ``who`` gets: the public ones only without a token (hidden
    columns would be empty on every row), all of them otherwise."""
    if who is None:
        return tuple(c for c in CARRIER_COLUMNS if c.field in access.PUBLIC_CARRIER_FIELDS)
    return CARRIER_COLUMNS


# --- writing sheets -----------------------------------------------------------------------


def neutralise(text: str) -> str:
    """``text`` made safe for a CSV cell: a leading formula character gets a ``'`` prefix."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unneutralise(text: str) -> str:
    """The inverse of :func:`neutralise` (the import reads exported cells back)."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return clock.local_isoformat(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return neutralise(str(value))


def csv_chunks(
    headers: list[str], rows: Iterable[list[Any]], batch: int = CHUNK
) -> Iterator[bytes]:
    """A CSV file (UTF-8 with BOM, CRLF lines) written as ``rows`` are read."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(BOM)
    writer.writerow(headers)
    count = 0
    for row in rows:
        writer.writerow([_csv_text(value) for value in row])
        count += 1
        if count % batch == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


#: The parts of an XLSX workbook of one sheet besides the sheet itself (SpreadsheetML,
#: ECMA-376): what Excel, LibreOffice and openpyxl need, and no more.
_XLSX_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_XLSX_RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_XLSX_PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        f'<Relationships xmlns="{_XLSX_PACKAGE_RELATIONSHIPS}">'
        f'<Relationship Id="rId1" Type="{_XLSX_RELATIONSHIPS}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{_XLSX_PACKAGE_RELATIONSHIPS}">'
        f'<Relationship Id="rId1" Type="{_XLSX_RELATIONSHIPS}/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_XLSX_RELATIONSHIPS}/styles" Target="styles.xml"/>'
        "</Relationships>"
    ),
    # Cell styles: 0 plain, 1 a date, 2 a date and time, 3 a bold header.
    "xl/styles.xml": (
        f'<styleSheet xmlns="{_XLSX_MAIN}">'
        '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
        '<numFmt numFmtId="165" formatCode="yyyy-mm-dd h:mm:ss"/></numFmts>'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
        "</borders>"
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" '
        'applyNumberFormat="1"/>'
        '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" '
        'applyNumberFormat="1"/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        "</cellXfs>"
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
#: Day 0 of Excel's dates (the 1900 date system, its leap-year bug included: day 60 is the
#: 29 February 1900 that never was, so serials from March 1900 on count from here).
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
#: Width of every column, in characters: a date (10) shows without ``####``.
XLSX_COLUMN_WIDTH = 14
#: Characters of a sheet name (Excel's limit) and those it may not hold.
_SHEET_NAME_LENGTH = 31
_SHEET_NAME_ILLEGAL = re.compile(r"[\[\]:*?/\\]")


def _xml_text(text: str) -> str:
    """``text`` as XML character data (characters XML cannot hold dropped; a carriage return
    kept as a reference, which a parser would otherwise turn into a line feed)."""
    text = _ILLEGAL_XML.sub("", text)
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _xlsx_cell(reference: str, value: Any) -> str:
    """One ``<c>`` of the sheet XML (empty for an empty cell).

    Text is an inline string cell: never a formula, whatever it starts with (formula
    injection), and nothing kept in memory for a shared-strings table. Dates are numbers
    with a date style, so spreadsheets show, sort and filter them as dates.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        text = _xml_text(value)
        return f'<c r="{reference}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
    if isinstance(value, bool):
        return _xlsx_cell(reference, "是" if value else "否")
    if isinstance(value, int | float):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return f'<c r="{reference}"><v>{value!r}</v></c>'
    if isinstance(value, dt.datetime):
        # Excel has no time zones: the local wall time of the configured zone.
        local = clock.to_local(value).replace(tzinfo=None)
        serial = (local - _EXCEL_EPOCH) / dt.timedelta(days=1)
        return f'<c r="{reference}" s="2"><v>{serial!r}</v></c>'
    if isinstance(value, dt.date):
        serial = (value - _EXCEL_EPOCH.date()).days
        return f'<c r="{reference}" s="1"><v>{serial}</v></c>'
    return _xlsx_cell(reference, str(value))


def _sheet_name(title: str) -> str:
    """``title`` as a sheet name Excel accepts, escaped for an XML attribute."""
    name = _SHEET_NAME_ILLEGAL.sub("_", title)[:_SHEET_NAME_LENGTH].strip("'") or "Sheet1"
    return _xml_text(name).replace('"', "&quot;")


def _sheet_xml(headers: list[str], rows: Iterable[list[Any]], batch: int) -> Iterator[str]:
    """The sheet part, in pieces of ``batch`` rows: a bold header row frozen at the top."""
    from openpyxl.utils import get_column_letter

    letters = [get_column_letter(index + 1) for index in range(max(len(headers), 1))]
    yield (
        f'{_XML_DECLARATION}<worksheet xmlns="{_XLSX_MAIN}">'
        '<sheetViews><sheetView workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        f'<cols><col min="1" max="{len(letters)}" width="{XLSX_COLUMN_WIDTH}" '
        'customWidth="1"/></cols><sheetData><row r="1">'
        + "".join(
            f'<c r="{letter}1" s="3" t="inlineStr"><is><t>{_xml_text(header)}</t></is></c>'
            for letter, header in zip(letters, headers, strict=False)
        )
        + "</row>"
    )
    pieces: list[str] = []
    for number, row in enumerate(rows, 2):
        cells = "".join(
            _xlsx_cell(f"{letter}{number}", value)
            for letter, value in zip(letters, row, strict=False)
        )
        pieces.append(f'<row r="{number}">{cells}</row>')
        if len(pieces) == batch:
            yield "".join(pieces)
            pieces = []
    pieces.append("</sheetData></worksheet>")
    yield "".join(pieces)


def xlsx_chunks(
    title: str, headers: list[str], rows: Iterable[list[Any]], batch: int = CHUNK
) -> Iterator[bytes]:
    """An XLSX file of one sheet, its XML written as ``rows`` are read into a zip in a
    temporary file (so rows are never all in memory), then read back in chunks and deleted.

    Written here rather than with openpyxl's write-only workbook: openpyxl builds an object
    and an lxml element per cell, which was more than half of a 100,000-row export's time
    (openpyxl still reads the imports, and the tests read every export back with it).
    """
    handle, path = tempfile.mkstemp(prefix="registry-export-", suffix=".xlsx")
    os.close(handle)
    try:
        with zipfile.ZipFile(
            path, "w", zipfile.ZIP_DEFLATED, compresslevel=XLSX_COMPRESSION
        ) as book:
            for name, xml in _XLSX_PARTS.items():
                book.writestr(name, _XML_DECLARATION + xml)
            book.writestr(
                "xl/workbook.xml",
                f'{_XML_DECLARATION}<workbook xmlns="{_XLSX_MAIN}" '
                f'xmlns:r="{_XLSX_RELATIONSHIPS}"><sheets>'
                f'<sheet name="{_sheet_name(title)}" sheetId="1" r:id="rId1"/>'
                "</sheets></workbook>",
            )
            # No ZIP64 extensions (Excel is wary of them): a sheet stays far below 2 GiB.
            with book.open("xl/worksheets/sheet1.xml", "w") as sheet:
                for piece in _sheet_xml(headers, rows, batch):
                    sheet.write(piece.encode("utf-8"))
        with open(path, "rb") as file:
            while chunk := file.read(FILE_CHUNK):
                yield chunk
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)


def write_sheet(fmt: str, title: str, headers: list[str], rows: Iterable[list]) -> Iterator[bytes]:
    """The chunks of a ``fmt`` (csv | xlsx) file of ``rows`` under ``headers``."""
    if fmt == "csv":
        return csv_chunks(headers, rows)
    return xlsx_chunks(title, headers, rows)


def filename(stem: str, fmt: str, ascii_stem: str) -> str:
    """``<Chinese stem>-<ascii stem>-<today>.<fmt>``: readable, and with an ASCII fallback
    that :func:`content_disposition` derives from it."""
    return f"{stem}-{ascii_stem}-{clock.today().isoformat()}.{fmt}"


def content_disposition(name: str) -> str:
    """An RFC 6266 ``attachment`` header: an ASCII ``filename`` and the UTF-8 ``filename*``."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "", name).lstrip("-._") or "export"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@contextlib.contextmanager
def acting_as(who: Principal | None) -> Iterator[None]:
    """Read as ``who`` (the request's principal, or the CLI's): the directory asks
    :func:`registry.access.principal`."""
    saved = getattr(g, "principal", None)
    g.principal = who
    try:
        yield
    finally:
        g.principal = saved


def _streamed(who: Principal | None, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks`` produced as ``who`` (a streamed answer is produced after the view)."""
    with acting_as(who):
        yield from chunks


# --- carriers ------------------------------------------------------------------------------


def _carrier_items(who: Principal | None, args: dict) -> Iterator[dict]:
    """The carriers of the list ``args`` as the caller may see them, read in chunks.

    The ids (sorted, filtered and scoped by the directory) are read first, so that the
    chunks cannot shift under concurrent writes; each chunk is then shown by the directory.
    """
    if "as_of" in args:
        pasts = directory.as_of(args)

        def past_chunks() -> Iterator[dict]:
            for start in range(0, len(pasts), CHUNK):
                yield from directory.shown_as_of(pasts[start : start + CHUNK], args["as_of"])

        return past_chunks()
    query = directory.sort(directory.visible(args), args.get("sort"))
    ids = [carrier_id for (carrier_id,) in query.select(Carrier.id).tuples()]

    def chunks() -> Iterator[dict]:
        for start in range(0, len(ids), CHUNK):
            yield from directory.shown(carriers.load_presented(ids[start : start + CHUNK]))

    return chunks()


def export_carriers(
    who: Principal | None, args: dict, fmt: str
) -> tuple[str, str, Iterator[bytes]]:
    """The carrier list ``args`` (the list's query arguments as ``CarrierQueryArgsSchema``
    loads them; ``page`` and ``page_size`` are ignored) exported for ``who`` as ``fmt``
    (``csv`` or ``xlsx``): ``(filename, mimetype, chunks)``.

    Scope, filters, the 403 on hidden filters and sorts, and ``as_of`` are checked now (the
    errors raise here); the file is produced while ``chunks`` is iterated, as ``who``.
    Call it inside an app context (a request, or the CLI's).
    """
    if fmt not in MIMETYPES:
        raise ValueError(f"Unknown export format {fmt!r}; one of {', '.join(FORMATS)}.")
    with acting_as(who):
        items = _carrier_items(who, args)
    title = "人才载体名录"
    if "as_of" in args:
        title += f"（{args['as_of'].isoformat()}）"
    return export_items(who, title, "carriers", fmt, carrier_columns(who), items)


# --- reading sheets -----------------------------------------------------------------------


class SheetError(DomainError):
    """A file the import cannot read as a carrier sheet at all (before any row is looked at)."""


class Formula(str):
    """The text of a formula cell: refused, the import wants values."""


#: Header rows are looked for among the first rows (a title row above them is common).
HEADER_SEARCH_ROWS = 10
#: Columns read from a sheet; cells further right are ignored.
MAX_COLUMNS = 64


@dataclass
class Table:
    """The carrier sheet of a file: its headers by column and its non-empty data rows."""

    sheet: str | None
    header_row: int
    headers: list[str]
    rows: list[tuple[int, list[Any]]]


def _normal_header(value: Any) -> str:
    text = "" if value is None else str(value)
    return re.sub(r"[\s*＊]", "", text).lower()


#: Header (and alias) → column, normalised.
HEADERS: dict[str, Column] = {
    _normal_header(name): column
    for column in CARRIER_COLUMNS
    for name in (column.header, *column.aliases)
}


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _header_index(rows: list[tuple[int, list[Any]]]) -> int | None:
    """Which of the first rows is the header row: the first naming 名称 and another column."""
    for index, (_, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        known = {HEADERS[h].key for h in map(_normal_header, cells) if h in HEADERS}
        if "name" in known and len(known) >= 2:
            return index
    return None


def _table(
    sheet: str | None, lines: Iterator[tuple[int, list[Any]]], max_rows: int
) -> Table | None:
    """The header row and the data rows under it (empty rows skipped; reading stops after
    ``max_rows + 1`` data rows), or None when no header row is found."""
    head: list[tuple[int, list[Any]]] = []
    for line in lines:
        if not all(map(_is_empty, line[1])):
            head.append(line)
        if len(head) == HEADER_SEARCH_ROWS:
            break
    index = _header_index(head)
    if index is None:
        return None
    header_row, header_cells = head[index]
    rows = head[index + 1 :]
    for line in lines:
        if len(rows) > max_rows:
            break
        if not all(map(_is_empty, line[1])):
            rows.append(line)
    headers = ["" if value is None else str(value).strip() for value in header_cells]
    return Table(sheet, header_row, headers, rows)


def _xlsx_lines(sheet) -> Iterator[tuple[int, list[Any]]]:
    for cells in sheet.iter_rows(max_col=MAX_COLUMNS):
        values = []
        for cell in cells:
            value = getattr(cell, "value", None)
            if getattr(cell, "data_type", None) == "f" and isinstance(value, str):
                value = Formula(value)
            values.append(value)
        row = next((c.row for c in cells if getattr(c, "row", None)), None)
        yield row or 0, values


def _read_xlsx(data: bytes, max_rows: int) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as error:  # openpyxl raises many kinds on a damaged or foreign zip
        raise SheetError(
            415, f"Not a readable XLSX workbook ({type(error).__name__}): save it again as .xlsx."
        ) from error
    try:
        found = []
        for sheet in workbook.worksheets:
            if getattr(sheet, "sheet_state", "visible") != "visible":
                continue
            lines = _numbered(_xlsx_lines(sheet))
            try:
                table = _table(sheet.title, lines, max_rows)
            except Exception as error:  # a damaged sheet part
                raise SheetError(
                    415, f"Sheet {sheet.title} cannot be read ({type(error).__name__})."
                ) from error
            if table is not None:
                found.append(table)
    finally:
        workbook.close()
    if len(found) > 1:
        names = "、".join(table.sheet for table in found)
        raise SheetError(
            422, f"Several sheets look like carrier lists ({names}): keep one and import again."
        )
    if not found:
        raise SheetError(422, _layout_message())
    return found[0]


def _numbered(lines: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
    """Rows numbered as the spreadsheet shows them (an all-empty row may carry no number)."""
    last = 0
    for number, cells in lines:
        last = number if number > last else last + 1
        yield last, cells


def _layout_message() -> str:
    required = "、".join(column.header for column in CARRIER_COLUMNS if column.key in REQUIRED)
    return (
        "No sheet has a header row of the carrier list: the first rows must name the columns "
        f"(at least {required}), as an export does."
    )


def _decode(data: bytes) -> str:
    """CSV text: UTF-8 with or without BOM, else GB18030 (what Excel saves in China)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        encodings = ("utf-8",)
    else:
        encodings = ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise SheetError(
        415, "Not a spreadsheet: send an .xlsx workbook or a CSV file in UTF-8 or GB18030."
    )


def _read_csv(data: bytes, max_rows: int) -> Table:
    text = _decode(data)
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        table = _table(None, ((number, row) for number, row in enumerate(reader, 1)), max_rows)
    except csv.Error as error:
        raise SheetError(422, f"The CSV file cannot be read: {error}.") from error
    if table is None:
        raise SheetError(422, _layout_message())
    return table


def read_table(data: bytes, max_rows: int) -> Table:
    """The carrier sheet of an uploaded file (XLSX or CSV, told apart by content)."""
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data, max_rows)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise SheetError(
            415, "An old .xls workbook (or another OLE file): save it as .xlsx and import that."
        )
    if not data.strip():
        raise SheetError(422, "The file is empty.")
    return _read_csv(data, max_rows)


# --- importing carriers -------------------------------------------------------------------

#: Columns a row needs to create a carrier.
REQUIRED = ("name", "type", "level", "host_name")
#: API field → the column its validation messages belong to.
FIELD_COLUMNS = {
    "name": "name",
    "type": "type",
    "level": "level",
    "host_organization_id": "host_name",
    "town": "town",
    "tags": "tags",
    "lead_person": "lead_person",
    "established_on": "established_on",
    "valid_until": "valid_until",
    "next_evaluation_on": "next_evaluation_on",
    "description": "description",
    "uscc": "host_uscc",
}
#: Columns whose value, when not empty and different from the carrier's date, is written
#: as an override of a derived date; an empty cell leaves the date to its rule.
OVERRIDE_DATES = ("valid_until", "next_evaluation_on")
#: Kind of the organisations an import creates for hosts it does not know yet.
NEW_HOST_KIND = "other"
_DATE_PATTERNS = (
    re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"),
    re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"),
    re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"),
)


class CellError(ValueError):
    """A cell that cannot be read: the message says why."""


@dataclass
class ImportReport:
    """What an import did, or (dry run, or bad rows) would have done."""

    dry_run: bool
    file: str | None
    sheet: str | None = None
    rows: int = 0
    results: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    organizations_created: list[dict] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    change_id: int | None = None

    def count(self, action: str) -> int:
        return sum(1 for result in self.results if result["action"] == action)

    @property
    def written(self) -> bool:
        """Whether the import was committed."""
        return not self.dry_run and not self.errors

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "imported": self.written,
            "file": self.file,
            "sheet": self.sheet,
            "rows": self.rows,
            "created": self.count("create"),
            "updated": self.count("update"),
            "unchanged": self.count("unchanged"),
            "organizations_created": self.organizations_created,
            "results": self.results,
            "errors": self.errors,
            "ignored_columns": self.ignored_columns,
            "change_id": self.change_id,
        }

    def summary(self) -> str:
        """One line for a person (the CLI)."""
        verb = "would be" if self.dry_run or self.errors else "were"
        text = (
            f"{self.rows} row(s): {self.count('create')} carrier(s) {verb} created, "
            f"{self.count('update')} updated, {self.count('unchanged')} unchanged, "
            f"{len(self.organizations_created)} organisation(s) {verb} created"
        )
        if self.errors:
            text += f"; {len(self.errors)} error(s), nothing was imported"
        return text + "."


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _text(value: Any) -> str | None:
    if isinstance(value, Formula):
        raise CellError(f"A formula ({value[:40]}) is not imported: paste its value instead.")
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = unneutralise(str(value).strip())
    return text or None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value)
    if text is None:
        return None
    for pattern in _DATE_PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            try:
                return dt.date(*map(int, found.groups()))
            except ValueError:
                break
    raise CellError(f"Not a date: {text}. Write it as YYYY-MM-DD (e.g. 2024-03-31).")


def _coded(what: str, labels: dict[str, str]) -> Callable[[Any], str | None]:
    """The reader of a code given as itself or as its label (spaces in either ignored)."""
    codes: dict[str, str] = {}
    for code, label in labels.items():  # the first code a text names wins
        codes.setdefault(code, code)
        codes.setdefault(re.sub(r"\s", "", label), code)

    def read(value: Any) -> str | None:
        text = _text(value)
        if text is None:
            return None
        code = codes.get(re.sub(r"\s", "", text))
        if code is None:
            raise CellError(f"Not a {what}: {text}. Use one of {'、'.join(labels.values())}.")
        return code

    return read


def _id(value: Any) -> int | None:
    text = _text(value)
    if text is None:
        return None
    if not text.isdigit() or not 0 < int(text) < 2**53:
        raise CellError(f"Not a carrier id: {text}.")
    return int(text)


def _tag_list(value: Any) -> list[str]:
    text = _text(value)
    return [tag.strip() for tag in re.split(r"[；;、，,]", text or "") if tag.strip()]


def _readers() -> dict[str, Callable[[Any], Any]]:
    labels = _labels()
    readers: dict[str, Callable[[Any], Any]] = {
        "id": _id,
        "type": _coded("carrier type", labels["type"]),
        "level": _coded("level", labels["level"]),
        "tags": _tag_list,
    }
    for column in CARRIER_COLUMNS:
        if column.kind == "date":
            readers.setdefault(column.key, _date)
        readers.setdefault(column.key, _text)
    return readers


@dataclass
class _Row:
    number: int
    values: dict[str, Any]
    cells: dict[str, str]  # column key → cell reference (e.g. C7)


class _Importer:
    """One import run: the columns of the sheet, the rows read, what each row does."""

    def __init__(self, table: Table, report: ImportReport):
        self.table = table
        self.report = report
        self.columns: dict[str, int] = {}
        self.headers: dict[str, str] = {}
        self.hosts_by_uscc: dict[str, int] = {}
        self.named: dict[str, list[int]] = {}
        self.schemas: dict[str, Any] = {}
        self._map_columns()

    # -- layout

    def _map_columns(self) -> None:
        table = self.table
        errors: dict[str, list[str]] = {}
        for index, header in enumerate(table.headers):
            letter = _column_letter(index)
            if not header:
                if any(index < len(c) and not _is_empty(c[index]) for _, c in table.rows):
                    errors.setdefault(letter, []).append(
                        f"Column {letter} has values but no header (merged header cells?): "
                        "give every column its own header in one row."
                    )
                continue
            column = HEADERS.get(_normal_header(header))
            if column is None:
                self.report.ignored_columns.append(header)
            elif column.key in self.columns:
                first = _column_letter(self.columns[column.key])
                errors.setdefault(header, []).append(
                    f"Column {header} appears twice ({first} and {letter})."
                )
            elif not column.read_only:
                self.columns[column.key] = index
                self.headers[column.key] = header
        if "id" not in self.columns:
            for key in REQUIRED:
                if key not in self.columns:
                    header = next(c.header for c in CARRIER_COLUMNS if c.key == key)
                    errors.setdefault(header, []).append(
                        f"The sheet has no {header} column: it is needed to create or match "
                        "carriers (or give their 编号)."
                    )
        if errors:
            raise SheetError(422, "The sheet's columns are not those of the carrier list.", errors)

    def header(self, key: str) -> str:
        return self.headers.get(key) or next(c.header for c in CARRIER_COLUMNS if c.key == key)

    def error(self, row: _Row | int, key: str | None, message: str) -> None:
        number = row.number if isinstance(row, _Row) else row
        cell = row.cells.get(key) if isinstance(row, _Row) and key else None
        self.report.errors.append(
            {
                "row": number,
                "column": self.header(key) if key else None,
                "cell": cell,
                "message": message,
            }
        )

    # -- reading rows

    def read_rows(self) -> list[_Row]:
        readers = _readers()
        letters = {key: _column_letter(index) for key, index in self.columns.items()}
        rows = []
        seen: dict[tuple, int] = {}
        for number, cells in self.table.rows:
            row = _Row(number, {}, {})
            bad = False
            for key, index in self.columns.items():
                row.cells[key] = f"{letters[key]}{number}"
                raw = cells[index] if index < len(cells) else None
                try:
                    row.values[key] = readers[key](raw)
                except CellError as error:
                    self.error(row, key, str(error))
                    bad = True
            if bad:
                continue
            values = row.values
            if values.get("id") is not None:
                identity, key = ("id", values["id"]), "id"
            else:
                host = values.get("host_uscc") or values.get("host_name")
                identity, key = ("name", values.get("name"), host), "name"
            if identity in seen:
                self.error(row, key, f"The same carrier as row {seen[identity]}: keep one of them.")
                continue
            seen[identity] = number
            rows.append(row)
        return rows

    # -- writing rows

    def prefetch_hosts(self, rows: list[_Row]) -> None:
        """The organisations the rows name, read in bulk (by credit code and by name)."""
        codes = sorted(
            {
                uscc_module.normalise(r.values["host_uscc"])
                for r in rows
                if r.values.get("host_uscc")
            }
        )
        names = sorted({r.values["host_name"] for r in rows if r.values.get("host_name")})
        for start in range(0, len(codes), CHUNK):
            query = Organization.select(Organization.id, Organization.uscc).where(
                Organization.uscc.in_(codes[start : start + CHUNK])
            )
            self.hosts_by_uscc.update((org.uscc, org.id) for org in query)
        for start in range(0, len(names), CHUNK):
            query = Organization.select(Organization.id, Organization.name).where(
                Organization.name.in_(names[start : start + CHUNK])
            )
            for org in query.order_by(Organization.id):
                self.named.setdefault(org.name, []).append(org.id)

    def host_id(self, row: _Row) -> int | None:
        """The host organisation named by the row (created when unknown); None when the row
        names none."""
        name, code = row.values.get("host_name"), row.values.get("host_uscc")
        if code:
            code = uscc_module.normalise(code)
            found = self.hosts_by_uscc.get(code)
            if found is None:
                reason = uscc_module.problem(code)
                if reason:
                    raise _RowProblem("host_uscc", reason)
                found = self._new_host(row, name, code)
                self.hosts_by_uscc[code] = found
            return found
        if not name:
            return None
        matches = self.named.get(name)
        if matches is None:
            matches = self.named[name] = [self._new_host(row, name, None)]
        if len(matches) > 1:
            raise _RowProblem(
                "host_name",
                f"{len(matches)} organisations are named {name}: give its 统一社会信用代码.",
            )
        return matches[0]

    def _new_host(self, row: _Row, name: str | None, code: str | None) -> int:
        from schemas.organizations import OrganizationSchema

        if not name:
            raise _RowProblem("host_name", "No organisation has this credit code: name it.")
        try:
            data = OrganizationSchema().load({"name": name, "uscc": code, "kind": NEW_HOST_KIND})
        except ValidationError as error:
            raise _RowProblem.of(error.messages) from error
        with db.database.atomic():  # a savepoint: a refused creation leaves the rest
            org = organizations.create_organization(data)
        self.report.organizations_created.append(
            {"row": row.number, "id": org.id, "name": org.name, "uscc": org.uscc}
        )
        return org.id

    def prefetch_carriers(self, plans: list[_Plan]) -> None:
        """The carriers the rows name (by id, or by host and name), and how the API shows
        them now, read in bulk."""
        ids = sorted({plan.row.values["id"] for plan in plans if plan.row.values.get("id")})
        found: dict[int, Carrier] = {}
        for start in range(0, len(ids), CHUNK):
            found.update((c.id, c) for c in carriers.load_many(ids[start : start + CHUNK]))
        named = [plan for plan in plans if not plan.row.values.get("id") and plan.host_id]
        hosts = sorted({plan.host_id for plan in named})
        names = sorted(
            {plan.row.values.get("name") for plan in named if plan.row.values.get("name")}
        )
        by_name: dict[tuple[int, str], Carrier] = {}
        for start in range(0, len(names), CHUNK):
            query = carriers.with_host().where(
                Carrier.host_organization.in_(hosts)
                & Carrier.name.in_(names[start : start + CHUNK])
                & (Carrier.status != "rejected")
            )
            for carrier in query.order_by(Carrier.id):
                by_name.setdefault((carrier.host_organization_id, carrier.name), carrier)
        for plan in plans:
            carrier_id = plan.row.values.get("id")
            if carrier_id is not None:
                plan.carrier = found.get(carrier_id)
                if plan.carrier is None:
                    plan.problem = _RowProblem(
                        "id", f"No carrier {carrier_id}: leave 编号 empty to create it."
                    )
            elif plan.host_id is not None:
                plan.carrier = by_name.get((plan.host_id, plan.row.values.get("name")))
        matched = list({plan.carrier.id: plan.carrier for plan in plans if plan.carrier}.values())
        shown: dict[int, dict] = {}
        for start in range(0, len(matched), CHUNK):
            chunk = matched[start : start + CHUNK]
            ids_ = {carrier.id for carrier in chunk}
            shown.update((item["id"], item) for item in carriers.present(chunk, ids_))
        for plan in plans:
            if plan.carrier is not None:
                plan.current = shown[plan.carrier.id]

    def changes(self, row: _Row, host_id: int | None, current: dict | None) -> dict:
        """The carrier fields (as the API takes them) the row sets differently from
        ``current`` (everything it names when creating)."""
        values = row.values
        wanted: dict[str, Any] = {}
        for key in ("name", "type", "level", "town", "lead_person", "description"):
            if key in values:
                wanted[key] = values[key]
        if "tags" in values:
            wanted["tags"] = values["tags"]
        if "established_on" in values:
            wanted["established_on"] = values["established_on"]
        for key in OVERRIDE_DATES:
            if values.get(key) is not None:
                wanted[key] = values[key]
        if host_id is not None:
            wanted["host_organization_id"] = host_id
        contact_keys = [k for k in ("name", "phone", "email") if f"contact_{k}" in values]
        if contact_keys:
            contact = dict((current or {}).get("contact") or {})
            contact.update({k: values[f"contact_{k}"] for k in contact_keys})
            wanted["contact"] = contact if any(contact.values()) else None
        if current is None:
            return {k: v for k, v in wanted.items() if v is not None and v != []}
        changed = {}
        for key, value in wanted.items():
            now = current.get(key)
            if key == "contact":
                now = {k: v for k, v in (now or {}).items() if v} or None
                value_cmp = {k: v for k, v in (value or {}).items() if v} or None
                if now != value_cmp:
                    changed[key] = value
            elif key == "host_organization_id":
                if current["host_organization"]["id"] != value:
                    changed[key] = value
            elif now != value:
                changed[key] = value
        return changed

    def plan(self, plan: _Plan) -> None:
        """What the row does: nothing, a creation or an update, with its data validated by
        the API's schema (a :class:`_RowProblem` otherwise)."""
        from schemas.carriers import CarrierSchema
        from schemas.common import update_schema

        if plan.problem is not None:
            raise plan.problem
        row, carrier, current = plan.row, plan.carrier, plan.current
        data = self.changes(row, plan.host_id, current)
        plan.changed = sorted(data)
        if carrier is not None and not data:
            plan.action = "unchanged"
            return
        if carrier is None:
            missing = [key for key in REQUIRED if not row.values.get(key)]
            if missing:
                raise _RowProblem.many(
                    (key, f"{self.header(key)} is needed to create a carrier.") for key in missing
                )
        payload = audit.jsonable(data)
        if not self.schemas:
            self.schemas = {"create": CarrierSchema(), "update": update_schema(CarrierSchema)}
        try:
            plan.data = self.schemas["create" if carrier is None else "update"].load(payload)
        except ValidationError as error:
            raise _RowProblem.of(error.messages) from error
        plan.action = "create" if carrier is None else "update"

    def result(self, plan: _Plan, carrier: Carrier | None) -> None:
        item = {
            "row": plan.row.number,
            "action": plan.action,
            "carrier_id": carrier.id if carrier else None,
            "name": carrier.name if carrier else plan.row.values.get("name"),
        }
        if plan.action != "unchanged":
            item["changed"] = plan.changed
        self.report.results.append(item)

    def run(self, rows: list[_Row], progress=None) -> None:
        """Plan every row, then write: updates one by one, creations in bulk (each row in a
        savepoint when something goes wrong, so that every bad row is reported)."""
        self.prefetch_hosts(rows)
        plans = []
        for row in rows:
            plan = _Plan(row)
            with _row_errors(self, row):
                plan.host_id = self.host_id(row)
                plans.append(plan)
        self.prefetch_carriers(plans)
        planned = []
        for plan in plans:
            with _row_errors(self, plan.row):
                self.plan(plan)
                planned.append(plan)
        done = 0
        creations = [plan for plan in planned if plan.action == "create"]
        for plan in planned:
            if plan.action == "unchanged":
                self.result(plan, plan.carrier)
            elif plan.action == "update":
                with _row_errors(self, plan.row):
                    with db.database.atomic():
                        carrier = carriers.update_carrier(plan.carrier.id, plan.data)
                    self.result(plan, carrier)
            else:
                continue
            done += 1
            if progress is not None:
                progress(done, len(planned))
        for start in range(0, len(creations), CHUNK):
            chunk = creations[start : start + CHUNK]
            try:
                with db.database.atomic():
                    created = carriers.create_carriers([plan.data for plan in chunk])
            except DomainError:
                created = None
            if created is None:  # find the rows at fault, one by one
                created = []
                for plan in chunk:
                    with _row_errors(self, plan.row):
                        with db.database.atomic():
                            created.append(carriers.create_carrier(plan.data))
                        continue
                    created.append(None)
            for plan, carrier in zip(chunk, created, strict=True):
                if carrier is not None:
                    self.result(plan, carrier)
            done += len(chunk)
            if progress is not None:
                progress(done, len(planned))
        self.report.results.sort(key=lambda item: item["row"])


@dataclass
class _Plan:
    """What one row does."""

    row: _Row
    host_id: int | None = None
    carrier: Carrier | None = None
    current: dict | None = None
    problem: Exception | None = None
    action: str | None = None
    data: dict | None = None
    changed: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _row_errors(importer: _Importer, row: _Row) -> Iterator[None]:
    """Report the errors raised about ``row`` (the block stops at the first)."""
    try:
        yield
    except _RowProblem as problem:
        for key, message in problem.problems:
            importer.error(row, key, message)
    except DomainError as error:
        if error.errors:
            for key, message in _RowProblem.of(error.errors).problems:
                importer.error(row, key, message)
        else:
            key = next((k for word, k in _REFUSAL_COLUMNS if word in error.message), None)
            importer.error(row, key, error.message)


class _RowProblem(Exception):
    """One or more messages about a row, by column key (None: the whole row)."""

    def __init__(self, key: str | None, message: str):
        super().__init__(message)
        self.problems = [(key, message)]

    @classmethod
    def many(cls, problems: Iterable[tuple[str | None, str]]) -> _RowProblem:
        problem = cls(None, "")
        problem.problems = list(problems)
        return problem

    @classmethod
    def of(cls, messages: dict) -> _RowProblem:
        problem = cls(None, "")
        problem.problems = []
        for name, inner in messages.items():
            if name == "contact" and isinstance(inner, dict):
                for part, texts in inner.items():
                    key = f"contact_{part}" if part in ("name", "phone", "email") else None
                    problem.problems.extend((key, text) for text in _texts(texts))
                continue
            key = FIELD_COLUMNS.get(name)
            prefix = "" if key else f"{name}: "
            problem.problems.extend((key, prefix + text) for text in _texts(inner))
        return problem


def _texts(messages: Any) -> list[str]:
    if isinstance(messages, dict):
        return [text for inner in messages.values() for text in _texts(inner)]
    if isinstance(messages, list | tuple):
        return [text for inner in messages for text in _texts(inner)]
    return [str(messages)]


#: Words of a domain refusal that tell which column it is about.
_REFUSAL_COLUMNS = (("named", "name"), ("level", "level"), ("host", "host_name"))


class _Rollback(Exception):
    """Leave the import's transaction without writing."""


def import_limits() -> tuple[int, int]:
    """``(max bytes, max rows)`` of one import, from configuration."""
    return current_app.config["IMPORT_MAX_BYTES"], current_app.config["IMPORT_MAX_ROWS"]


def import_carriers(
    data: bytes, *, dry_run: bool, file_name: str | None = None, progress=None
) -> ImportReport:
    """Import the carrier sheet in ``data`` (XLSX or CSV): every row checked, then written
    in one write transaction unless it is a ``dry_run`` or a row is bad (nothing written).

    * Columns are matched by the export's Chinese headers (or the API field names); cells
      take codes or labels; read-only columns (状态, 认定日期, 证书编号, 年报截止日期,
      合作单位, 未处理预警数) and unknown columns are ignored.
    * A row is matched to an existing carrier by 编号 (id), else by its name and host
      (the host by 统一社会信用代码, else by its exact name); an unknown host organisation
      is created (kind ``other``). A matched row writes only the fields that differ, so
      importing the same file again changes nothing; 有效期至 and 下次评估日期 are written
      (as overrides) only when not empty and different.
    * Every write goes through ``carriers.create_carrier`` / ``update_carrier`` and
      ``organizations.create_organization`` after the API's schema validation: the same
      audit records and events as one-by-one calls, plus one ``import`` audit record
      listing the rows. A dry run runs the very same writes and rolls them back, so it
      reports exactly the errors a real import would meet.

    Raises :class:`SheetError` (4xx) for a file that is no carrier sheet, too large or with
    too many rows; bad rows are in the report's ``errors`` (row, column, cell, message).
    ``progress(done, total)`` is called as rows are written.
    """
    max_bytes, max_rows = import_limits()
    if len(data) > max_bytes:
        raise SheetError(
            413, f"The file has {len(data):,} bytes; an import takes at most {max_bytes:,}."
        )
    table = read_table(data, max_rows)
    report = ImportReport(dry_run=dry_run, file=file_name, sheet=table.sheet)
    if len(table.rows) > max_rows:
        number = table.rows[max_rows][0]
        raise SheetError(
            422,
            f"The sheet has more than {max_rows:,} rows of carriers; import at most "
            f"{max_rows:,} at a time.",
            {f"row {number}": [f"Row {number} is the {max_rows + 1:,}th carrier row."]},
        )
    importer = _Importer(table, report)
    rows = importer.read_rows()
    report.rows = len(table.rows)
    try:
        with db.write_transaction():
            importer.run(rows, progress)
            report.errors.sort(key=lambda error: error["row"])
            if report.errors or dry_run:
                raise _Rollback
            if not report.organizations_created and all(
                result["action"] == "unchanged" for result in report.results
            ):
                return report  # nothing changed: no audit record of nothing
            change = audit.record_change(
                "import",
                "carrier_import",
                None,
                None,
                {**report.as_dict(), "imported": True},
            )
            report.change_id = change.id
    except _Rollback:
        # Nothing was written: ids of creations were never kept.
        for item in report.results + report.organizations_created:
            if item.get("action", "create") == "create":
                item["id" if "id" in item else "carrier_id"] = None
    return report


# --- alerts, annual reports, targets --------------------------------------------------------


def _chunked(query) -> Iterator:
    """The rows of a sorted query, read :data:`CHUNK` at a time (the sort ends on the id)."""
    page = 1
    while True:
        rows = list(query.paginate(page, CHUNK))
        yield from rows
        if len(rows) < CHUNK:
            return
        page += 1


def _coded_value(labels: dict[str, str], key: str) -> Callable[[dict], Any]:
    return lambda item: labels.get(item.get(key), item.get(key))


def alert_columns() -> tuple[Column, ...]:
    """The alert sheet."""
    carrier = lambda key: lambda item: (item.get("carrier") or {}).get(key)  # noqa: E731
    return (
        Column("id", "编号", "id", "number"),
        Column("carrier_id", "载体编号", "carrier_id", "number"),
        Column("carrier_name", "载体名称", "carrier", value=carrier("name")),
        Column("carrier_type", "载体类型", "carrier", value=carrier("type"), coded="type"),
        Column("carrier_level", "级别", "carrier", value=carrier("level"), coded="level"),
        Column("kind", "预警类型", "kind", value=_coded_value(vocabulary.ALERT_KINDS, "kind")),
        Column("due_on", "到期日期", "due_on", "date"),
        Column("days_left", "剩余天数", "days_left", "number"),
        Column("status", "状态", "status", value=_coded_value(vocabulary.ALERT_STATUSES, "status")),
        Column("opened_on", "预警日期", "opened_on", "date"),
        Column("acknowledged_at", "确认时间", "acknowledged_at", "date"),
        Column("acknowledged_by", "确认人", "acknowledged_by"),
        Column("resolved_on", "解除日期", "resolved_on", "date"),
    )


def export_alerts(who: Principal | None, query, fmt: str) -> tuple[str, str, Iterator[bytes]]:
    """The alerts of ``query`` (the alert list's scoped, filtered, sorted query) as a file."""
    from registry import alerts

    items = (alerts.as_dict(alert) for alert in _chunked(query))
    return export_items(who, "预警清单", "alerts", fmt, alert_columns(), items)


def _metric_labels(carrier_type: str | None) -> dict[str, str]:
    """Report metric → header: the type's own labels, or every metric's labels (a metric
    labelled differently by two types shows both)."""
    if carrier_type is not None:
        return dict(vocabulary.REPORT_METRICS[carrier_type])
    labels: dict[str, list[str]] = {}
    for metrics in vocabulary.REPORT_METRICS.values():
        for key, label in metrics.items():
            if label not in labels.setdefault(key, []):
                labels[key].append(label)
    return {key: "/".join(texts) for key, texts in labels.items()}


def report_columns(carrier_type: str | None = None) -> tuple[Column, ...]:
    """The annual report sheet: one column per metric (of the type, when filtered by one)."""
    metrics = _metric_labels(carrier_type)
    return (
        Column("id", "编号", "id", "number"),
        Column("carrier_id", "载体编号", "carrier_id", "number"),
        Column("carrier_name", "载体名称", "carrier_name"),
        Column("carrier_type", "载体类型", "carrier_type", coded="type"),
        Column("year", "年度", "year", "number"),
        Column(
            "status", "状态", "status", value=_coded_value(vocabulary.REPORT_STATUSES, "status")
        ),
        Column("submitted_at", "提交时间", "submitted_at", "date"),
        *(
            Column(
                f"metric_{key}",
                label,
                "metrics",
                "number",
                value=lambda item, key=key: (item.get("metrics") or {}).get(key),
            )
            for key, label in metrics.items()
        ),
        Column("review_comment", "审核意见", "review_comment"),
    )


def export_reports(
    who: Principal | None, query, fmt: str, carrier_type: str | None = None
) -> tuple[str, str, Iterator[bytes]]:
    """The annual reports of ``query`` (the report list's scoped, filtered, sorted query)."""
    from registry import reports

    def items() -> Iterator[dict]:
        batch: list = []
        for report in _chunked(query):
            batch.append(report)
            if len(batch) == CHUNK:
                yield from _with_carriers(batch, reports.as_dict)
                batch = []
        yield from _with_carriers(batch, reports.as_dict)

    columns = report_columns(carrier_type)
    return export_items(who, "年度报告", "annual-reports", fmt, columns, items())


def _with_carriers(rows: list, present: Callable[[Any], dict]) -> list[dict]:
    """Items of ``rows`` with their carrier's name and type (one query)."""
    ids = {row.carrier_id for row in rows}
    names = (
        {
            carrier.id: carrier
            for carrier in Carrier.select(Carrier.id, Carrier.name, Carrier.type).where(
                Carrier.id.in_(list(ids))
            )
        }
        if ids
        else {}
    )
    items = []
    for row in rows:
        item = present(row)
        carrier = names.get(row.carrier_id)
        item["carrier_name"] = carrier.name if carrier else None
        item["carrier_type"] = carrier.type if carrier else None
        items.append(item)
    return items


def target_columns() -> tuple[Column, ...]:
    """The target progress sheet."""
    progress = lambda key: lambda item: (item.get("progress") or {}).get(key)  # noqa: E731
    return (
        Column("id", "编号", "id", "number"),
        Column("name", "目标名称", "name"),
        Column("metric", "指标", "metric", value=_coded_value(vocabulary.TARGET_METRICS, "metric")),
        Column("year", "年度", "year", "number"),
        Column("target_value", "目标值", "target_value", "number"),
        Column("current", "当前值", "progress", "number", value=progress("current")),
        Column("percent", "完成率（%）", "progress", "number", value=progress("percent")),
        Column("expected", "应达进度", "progress", "number", value=progress("expected")),
        Column(
            "state",
            "进度状态",
            "progress",
            value=lambda item: vocabulary.TARGET_STATES.get(progress("state")(item)),
        ),
        Column("starts_on", "起始日期", "starts_on", "date"),
        Column("deadline", "截止日期", "deadline", "date"),
        Column("note", "备注", "note"),
    )


def export_targets(who: Principal | None, query, fmt: str) -> tuple[str, str, Iterator[bytes]]:
    """The targets of ``query`` (the target list's filtered, sorted query) with their live
    progress."""
    from registry import targets

    today = clock.today()
    items = (targets.as_dict(target, today) for target in _chunked(query))
    return export_items(who, "目标进度", "targets", fmt, target_columns(), items)


def export_items(
    who: Principal | None,
    title: str,
    ascii_title: str,
    fmt: str,
    columns: tuple[Column, ...],
    items: Iterable[dict],
) -> tuple[str, str, Iterator[bytes]]:
    """``(filename, mimetype, chunks)`` of a sheet of ``items`` (produced as ``who``)."""
    if fmt not in MIMETYPES:
        raise ValueError(f"Unknown export format {fmt!r}; one of {', '.join(FORMATS)}.")
    labels = _labels()  # once per sheet, not once per cell
    rows = ([column.cell(item, labels) for column in columns] for item in items)
    chunks = write_sheet(fmt, title, [column.header for column in columns], rows)
    return filename(title, fmt, ascii_title), MIMETYPES[fmt], _streamed(who, chunks)
