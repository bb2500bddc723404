"""/carriers/export and /carriers/import, and the exports of alerts, annual reports and
targets: thin callers of registry.spreadsheets."""

from __future__ import annotations

from flask import Response, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from registry import access, spreadsheets
from registry.api.common import error_responses
from schemas.spreadsheets import CarrierExportArgsSchema

blp = Blueprint(
    "spreadsheets",
    __name__,
    url_prefix="/api/v1",
    description="Spreadsheets (SPEC §8): the carrier list and the lists of alerts, annual "
    "reports and targets as XLSX or CSV (UTF-8 with BOM), with Chinese headers and labels; "
    "and the carrier import with its dry run.",
)

#: The documented 200 answer of every export.
FILE_DOC = {
    "responses": {
        "200": {
            "description": "The file, streamed, with `Content-Disposition: attachment` "
            "(RFC 6266, a UTF-8 `filename*`).",
            "headers": {
                "Content-Disposition": {
                    "description": "`attachment; filename=…; filename*=UTF-8''…`",
                    "schema": {"type": "string"},
                }
            },
            "content": {
                spreadsheets.XLSX_MIMETYPE: {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    }
}


def download(name: str, mimetype: str, chunks) -> Response:
    """A streamed file answer."""
    return Response(
        stream_with_context(chunks),
        200,
        mimetype=mimetype,
        headers={
            "Content-Disposition": spreadsheets.content_disposition(name),
            "Cache-Control": "private, no-store",
        },
    )


@blp.route("/carriers/export")
class CarrierExport(MethodView):
    @blp.arguments(CarrierExportArgsSchema, location="query")
    @blp.doc(**FILE_DOC)
    @error_responses(blp, 401, 403)
    def get(self, args):
        """Export the carrier list (filters, sort and as_of as the list) as XLSX or CSV

        Every carrier the list would show, on one sheet. Without a token only the public
        columns are present; with one, every column is, and the cells of non-public fields
        are empty for the carriers you may not read fully.
        """
        fmt = args.pop("format")
        return download(*spreadsheets.export_carriers(access.principal(), args, fmt))
