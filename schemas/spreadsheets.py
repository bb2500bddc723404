"""Spreadsheet export and import arguments and answers."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields

from registry.spreadsheets import FORMATS
from schemas.alerts import AlertQueryArgsSchema
from schemas.carriers import CarrierQueryArgsSchema
from schemas.common import one_of
from schemas.reports import AnnualReportQueryArgsSchema
from schemas.targets import TargetQueryArgsSchema

FORMAT = fields.String(
    load_default="xlsx",
    validate=one_of(FORMATS, "spreadsheet format"),
    metadata={"description": "`xlsx` (default) or `csv` (UTF-8 with BOM)."},
)


class ExportFormatArgsSchema(ma.Schema):
    """The file format of an export."""

    format = FORMAT


class ImportArgsSchema(ma.Schema):
    """Options of an import."""

    dry_run = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Check every row and report what would be created, updated or left "
            "alone, writing nothing (also accepted as a form field `dry_run`)."
        },
    )


class ImportFileSchema(ma.Schema):
    """The uploaded spreadsheet."""

    file = Upload(
        required=True,
        metadata={
            "description": "An .xlsx workbook or a .csv file (UTF-8 with or without BOM, or "
            "GB18030) with the export's headers."
        },
    )


class RowErrorSchema(ma.Schema):
    row = fields.Integer(metadata={"description": "Row number as the spreadsheet shows it."})
    column = fields.String(
        allow_none=True, metadata={"description": "The column's header (null: the whole row)."}
    )
    cell = fields.String(allow_none=True, metadata={"description": "Cell reference, e.g. C7."})
    message = fields.String()


class RowResultSchema(ma.Schema):
    row = fields.Integer()
    action = fields.String(metadata={"description": "create, update or unchanged."})
    carrier_id = fields.Integer(
        allow_none=True, metadata={"description": "Null for a creation in a dry run."}
    )
    name = fields.String(allow_none=True)
    changed = fields.List(fields.String(), metadata={"description": "Fields written."})


class CreatedOrganizationSchema(ma.Schema):
    row = fields.Integer()
    id = fields.Integer(allow_none=True)
    name = fields.String()
    uscc = fields.String(allow_none=True)


class ImportReportSchema(ma.Schema):
    """What an import did (or, in a dry run, would do)."""

    dry_run = fields.Boolean()
    imported = fields.Boolean(metadata={"description": "Whether anything was written."})
    file = fields.String(allow_none=True)
    sheet = fields.String(allow_none=True, metadata={"description": "The sheet read (XLSX)."})
    rows = fields.Integer(metadata={"description": "Non-empty data rows read."})
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    organizations_created = fields.List(fields.Nested(CreatedOrganizationSchema))
    results = fields.List(fields.Nested(RowResultSchema))
    errors = fields.List(fields.Nested(RowErrorSchema))
    ignored_columns = fields.List(
        fields.String(), metadata={"description": "Headers the import does not know."}
    )
    change_id = fields.Integer(
        allow_none=True, metadata={"description": "The `import` audit record of a real import."}
    )


def export_args(list_args: type[ma.Schema]) -> type[ma.Schema]:
    """The query schema of a list's export: its filters and sort, no pagination, `format`."""
    fields_ = {"format": FORMAT}
    meta = type("Meta", (), {"exclude": ("page", "page_size")})
    name = list_args.__name__.replace("QueryArgs", "ExportArgs")
    return type(name, (list_args,), {**fields_, "Meta": meta, "__doc__": list_args.__doc__})


#: The exports' query schemas: the list's filters, sort (and ``as_of`` for carriers), format.
CarrierExportArgsSchema = export_args(CarrierQueryArgsSchema)
AlertExportArgsSchema = export_args(AlertQueryArgsSchema)
AnnualReportExportArgsSchema = export_args(AnnualReportQueryArgsSchema)
TargetExportArgsSchema = export_args(TargetQueryArgsSchema)
