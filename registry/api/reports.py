"""/carriers/{id}/annual-reports and /annual-reports: yearly reports and their review."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort

from registry import access, directory, reports, rosters
from registry.api.common import ResourceBlueprint, error_responses, sort_columns
from registry.db import apply_sort
from registry.models import AnnualReport, Carrier
from schemas.reports import (
    AnnualReportQueryArgsSchema,
    AnnualReportSchema,
    CarrierReportQueryArgsSchema,
    ReportResubmissionSchema,
    ReviewSchema,
)

blp = ResourceBlueprint(
    "annual-reports",
    __name__,
    url_prefix="/api/v1",
    description="Annual reports: one per carrier and year, with metrics (numbers keyed by the "
    "metrics of the carrier's type). Submitted by the bureau admin or an operator of the "
    "carrier; accepted or returned by the bureau admin (POST …/review). A returned report is "
    "corrected and submitted again with PATCH. Submitted and accepted reports count for the "
    "carrier's next_report_due_on; returned ones do not. Read by the bureau and by operators "
    "and partners of the carrier.",
    etag_prefix="ar",
)
SORTS = sort_columns(AnnualReportQueryArgsSchema, AnnualReport, carrier_id=AnnualReport.carrier)


def for_reviewer(report: AnnualReport) -> dict:
    """A report with where its figures disagree with the carrier's roster."""
    carrier = Carrier.get_by_id(report.carrier_id)
    mismatches = rosters.mismatches(carrier, report.year, report.metrics or {})
    return {**reports.as_dict(report), "roster_mismatches": mismatches}


def get_report(report_id: int) -> AnnualReport:
    """A report the caller may read (401 anonymous, 404 when it may not see it)."""
    who = access.require_reader()
    query = access.report_scope(AnnualReport.select(), who)
    return blp.get_or_404(query, report_id, "annual report")


@blp.route("/carriers/<id:carrier_id>/annual-reports")
class CarrierReports(MethodView):
    @blp.listing(CarrierReportQueryArgsSchema, AnnualReportSchema(many=True), 401, 403, 404)
    def get(self, args, carrier_id):
        """List a carrier's annual reports, newest year first"""
        carrier = directory.fully_readable(carrier_id)
        query = reports.of_carrier(carrier.id, args.get("status"))
        return blp.page(query, args, lambda rows: [reports.as_dict(row) for row in rows])

    @blp.arguments(AnnualReportSchema)
    @blp.write_response(AnnualReportSchema, 201)
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def post(self, data, carrier_id):
        """Submit a carrier's annual report for a year (bureau admin or its operator)

        409 when the year has a report already (a returned one is resubmitted with PATCH);
        422 for a year before the carrier's first accreditation, in the future or the current
        year before it ends (unless a bureau admin sends `early_submission: true`; 403 for
        anyone else), or metrics that are not numbers ≥ 0 with keys of the carrier's type
        (whole numbers for counts). Emits `report.submitted`.
        """
        carrier = directory.fully_readable(carrier_id)
        who = access.require_report_submitter(carrier)
        if data.get("early_submission") and who.role != access.BUREAU_ADMIN:
            abort(403, message="Only the bureau admin may allow an early submission.")
        report = reports.submit_report(carrier, data)
        return blp.created(
            reports.as_dict(report), report, f"{blp.url_prefix}/annual-reports/{report.id}"
        )


def listed(args: dict):
    """The annual reports the caller may read (401 anonymous), narrowed by the list's
    filters and sorted (latest year first by default): the list and the export."""
    who = access.require_reader()
    query = access.report_scope(AnnualReport.select(), who)
    if "carrier_id" in args:
        query = query.where(AnnualReport.carrier == args["carrier_id"])
    if "year" in args:
        query = query.where(AnnualReport.year == args["year"])
    if "status" in args:
        query = query.where(AnnualReport.status == args["status"])
    if "type" in args:
        of_type = Carrier.select(Carrier.id).where(Carrier.type == args["type"])
        query = query.where(AnnualReport.carrier.in_(of_type))
    return apply_sort(query, args.get("sort"), SORTS, AnnualReport.year.desc())


@blp.route("/annual-reports")
class AnnualReports(MethodView):
    @blp.listing(AnnualReportQueryArgsSchema, AnnualReportSchema(many=True), 401)
    def get(self, args):
        """List annual reports the caller may read, filtered and sorted"""
        return blp.page(listed(args), args, lambda rows: [reports.as_dict(row) for row in rows])


@blp.route("/annual-reports/<id:report_id>")
class AnnualReportsById(MethodView):
    @blp.read_response(AnnualReportSchema)
    @error_responses(blp, 401, 404)
    def get(self, report_id):
        """Get one annual report (with its ETag)"""
        report = get_report(report_id)
        return blp.read(report, lambda: for_reviewer(report))

    @blp.arguments(ReportResubmissionSchema)
    @blp.write_response(AnnualReportSchema)
    @blp.etag_protected
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def patch(self, data, report_id):
        """Correct a report not yet accepted; a returned report is submitted again

        By the bureau admin or an operator of the carrier. A returned report becomes
        `submitted` with a new `submitted_at` and its review cleared; an accepted report is
        final (409). Emits `report.submitted`.
        """
        report = get_report(report_id)
        access.require_report_submitter(Carrier.get_by_id(report.carrier_id))
        expected = blp.expected_version(report_id)
        report = reports.resubmit_report(report, data["metrics"], expected)
        return blp.written(reports.as_dict(report), report)


@blp.route("/annual-reports/<id:report_id>/review")
class AnnualReportReview(MethodView):
    @blp.arguments(ReviewSchema)
    @blp.write_response(AnnualReportSchema)
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def post(self, data, report_id):
        """Accept or return a submitted report with a comment (bureau admin)

        A comment is required when returning. Only a submitted report can be reviewed (409
        otherwise, e.g. a second review).
        """
        access.require(access.BUREAU_ADMIN)
        report = get_report(report_id)
        report = reports.review_report(report, data["status"], data.get("review_comment"))
        return blp.written(for_reviewer(report), report)
