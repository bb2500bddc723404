"""Spreadsheet export and import arguments and answers."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from registry.spreadsheets import FORMATS
from schemas.carriers import CarrierQueryArgsSchema
from schemas.common import one_of

FORMAT = fields.String(
    load_default="xlsx",
    validate=one_of(FORMATS, "spreadsheet format"),
    metadata={"description": "`xlsx` (default) or `csv` (UTF-8 with BOM)."},
)


class ExportFormatArgsSchema(ma.Schema):
    """The file format of an export."""

    format = FORMAT


class CarrierExportArgsSchema(CarrierQueryArgsSchema):
    """The carrier list's filters, sort and `as_of` (no pagination: every matching carrier),
    and the file format."""

    format = FORMAT

    class Meta:
        exclude = ("page", "page_size")
