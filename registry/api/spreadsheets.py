"""/carriers/export and /carriers/import, and the exports of alerts, annual reports and
targets: thin callers of registry.spreadsheets."""

from __future__ import annotations

from flask import Response, request, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from registry import access, spreadsheets
from registry.api import alerts, jsonbody, reports, targets
from registry.api.common import error_responses, problem
from schemas.spreadsheets import (
    AlertExportArgsSchema,
    AnnualReportExportArgsSchema,
    CarrierExportArgsSchema,
    ImportArgsSchema,
    ImportFileSchema,
    ImportReportSchema,
    TargetExportArgsSchema,
)

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


jsonbody.accept_upload(f"{blp.url_prefix}/carriers/import", "IMPORT_MAX_BYTES")
#: Form values of ``dry_run`` that mean yes.
YES = frozenset({"1", "true", "yes", "on"})


@blp.route("/carriers/import")
class CarrierImport(MethodView):
    @blp.arguments(ImportArgsSchema, location="query")
    @blp.arguments(ImportFileSchema, location="files")
    @blp.response(200, ImportReportSchema)
    @error_responses(blp, 401, 403, 413, 415, 422)
    def post(self, args, files):
        """Import carriers from an XLSX or CSV sheet (bureau admin only), or check it with
        dry_run

        The sheet has the export's headers (codes or labels in the cells). Rows are matched
        to carriers by 编号 (id), else by name and host organisation (by credit code, else
        by name); unknown host organisations are created. With `dry_run` the answer reports
        what would be created, updated or left alone and every bad row, and nothing is
        written. A real import writes all rows in one transaction, or nothing: a bad row
        makes it a 422 whose `errors` name each row and column and whose `report` is the
        dry run's. 413 for a file over `REGISTRY_IMPORT_MAX_BYTES`; 415 for a file that is no
        spreadsheet; 422 for an unknown sheet layout, more than `REGISTRY_IMPORT_MAX_ROWS`
        rows, formulas or duplicate rows.
        """
        access.require_admin()
        upload = files["file"]
        dry_run = args["dry_run"] or request.form.get("dry_run", "").lower() in YES
        max_bytes, _ = spreadsheets.import_limits()
        data = upload.read(max_bytes + 1)
        report = spreadsheets.import_carriers(data, dry_run=dry_run, file_name=upload.filename)
        if report.errors and not dry_run:
            errors: dict[str, list[str]] = {}
            for error in report.errors:
                where = f"row {error['row']}" + (f", {error['column']}" if error["column"] else "")
                errors.setdefault(where, []).append(error["message"])
            return problem(
                422,
                f"{len(report.errors)} problem(s) in the sheet; nothing was imported.",
                errors,
                extensions={"report": report.as_dict()},
            )
        return report.as_dict()


@blp.route("/alerts/export")
class AlertExport(MethodView):
    @blp.arguments(AlertExportArgsSchema, location="query")
    @blp.doc(**FILE_DOC)
    @error_responses(blp, 401)
    def get(self, args):
        """Export the alerts you may read (the list's filters and sort) as XLSX or CSV"""
        fmt = args.pop("format")
        query = alerts.listed(args)
        return download(*spreadsheets.export_alerts(access.principal(), query, fmt))


@blp.route("/annual-reports/export")
class AnnualReportExport(MethodView):
    @blp.arguments(AnnualReportExportArgsSchema, location="query")
    @blp.doc(**FILE_DOC)
    @error_responses(blp, 401)
    def get(self, args):
        """Export the annual reports you may read (the list's filters and sort), one column
        per metric (those of `type` when given)"""
        fmt = args.pop("format")
        query = reports.listed(args)
        return download(
            *spreadsheets.export_reports(access.principal(), query, fmt, args.get("type"))
        )


@blp.route("/targets/export")
class TargetExport(MethodView):
    @blp.arguments(TargetExportArgsSchema, location="query")
    @blp.doc(**FILE_DOC)
    @error_responses(blp, 401, 403)
    def get(self, args):
        """Export the targets with their live progress (bureau) as XLSX or CSV"""
        fmt = args.pop("format")
        query = targets.listed(args)
        return download(*spreadsheets.export_targets(access.principal(), query, fmt))
