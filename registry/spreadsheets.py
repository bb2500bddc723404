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
      XLSX is an openpyxl write-only workbook written to a temporary file, then streamed;
      the database is read in chunks of :data:`CHUNK` carriers, so memory does not grow
      with the number of rows;
    * a text cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab / carriage return) is
      neutralised: XLSX stores it as a plain string cell, CSV prefixes it with ``'``
      (the import strips that prefix again, so an export imports back unchanged).

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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import current_app, g

from registry import access, carriers, clock, directory, vocabulary
from registry.models import Carrier, Principal

#: Carriers read from the database at a time while exporting.
CHUNK = 500
#: Bytes of the temporary XLSX file sent at a time.
FILE_CHUNK = 64 * 1024
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
    #: Shown for information only: the import ignores it (the lifecycle owns it).
    read_only: bool = False
    aliases: tuple[str, ...] = field(default=())

    def cell(self, item: dict) -> Any:
        if self.value is not None:
            return self.value(item)
        return item.get(self.field)


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
    Column("type", "类型", "type", value=lambda item: _label("type", item.get("type"))),
    Column("level", "级别", "level", value=lambda item: _label("level", item.get("level"))),
    Column(
        "status",
        "状态",
        "status",
        value=lambda item: _label("status", item.get("status")),
        read_only=True,
    ),
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


def _xlsx_cell(sheet, value: Any):
    from openpyxl.cell import WriteOnlyCell

    if value is None:
        return None
    if isinstance(value, dt.datetime):
        # Excel has no time zones: the local wall time of the configured zone.
        local = clock.to_local(value).replace(tzinfo=None)
        cell = WriteOnlyCell(sheet, value=local)
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    if isinstance(value, dt.date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float):
        return value
    text = _ILLEGAL_XML.sub("", str(value))
    if text.startswith(FORMULA_STARTS):
        # A string cell is never evaluated: the text is kept as it is, just not as a formula.
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"
        return cell
    return text


def xlsx_chunks(title: str, headers: list[str], rows: Iterable[list[Any]]) -> Iterator[bytes]:
    """An XLSX file of one sheet: an openpyxl write-only workbook saved to a temporary file
    (so rows are never all in memory), then read back in chunks and deleted."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    handle, path = tempfile.mkstemp(prefix="registry-export-", suffix=".xlsx")
    os.close(handle)
    try:
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(title)
        sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        header_cells = []
        for header in headers:
            cell = WriteOnlyCell(sheet, value=header)
            cell.font = bold
            header_cells.append(cell)
        sheet.append(header_cells)
        for row in rows:
            sheet.append([_xlsx_cell(sheet, value) for value in row])
        workbook.save(path)
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
            yield from directory.shown(carriers.load_many(ids[start : start + CHUNK]))

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
    columns = carrier_columns(who)
    rows = ([column.cell(item) for column in columns] for item in items)
    title = "人才载体" if "as_of" not in args else f"人才载体（{args['as_of'].isoformat()}）"
    chunks = write_sheet(fmt, title, [column.header for column in columns], rows)
    return filename("人才载体名录", fmt, "carriers"), MIMETYPES[fmt], _streamed(who, chunks)
