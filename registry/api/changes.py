"""/changes (the audit trail, read-only) and /carriers/{id}/history (one carrier's trail)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from registry import access, audit, directory, rosters
from registry.api.common import LIST_HEADERS, error_responses, paginate
from registry.models import Change
from schemas.changes import ChangeQueryArgsSchema, ChangeSchema, HistoryArgsSchema

blp = Blueprint(
    "changes",
    __name__,
    url_prefix="/api/v1",
    description="The audit trail: one record per write (who, what, when, before and after). "
    "Records are append-only: the API offers no way to alter or delete them.",
)


@blp.route("/changes")
class Changes(MethodView):
    @blp.arguments(ChangeQueryArgsSchema, location="query")
    @blp.response(200, ChangeSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401, 403)
    def get(self, args):
        """List audit records, filtered by object, actor, action and time (bureau)"""
        who = access.require_bureau()
        query = audit.filter_changes(Change.select(), args)
        rows, headers = paginate(query, args["page"], args["page_size"])
        return [rosters.audit_view(audit.change_as_dict(row), who) for row in rows], 200, headers


@blp.route("/carriers/<id:carrier_id>/history")
class CarrierHistory(MethodView):
    @blp.arguments(HistoryArgsSchema, location="query")
    @blp.response(200, ChangeSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401, 403, 404)
    def get(self, args, carrier_id):
        """List one carrier's audit records (whoever may read the carrier fully)

        Creation, edits (a registration's edits by its partner among them), milestones,
        voids and the review, each with the carrier's state before and after; roster entries
        with their personal fields masked (`***`) for readers other than the bureau.
        """
        carrier = directory.fully_readable(carrier_id)
        query = audit.carrier_history(carrier.id, args)
        rows, headers = paginate(query, args["page"], args["page_size"])
        who = access.principal()
        return [rosters.audit_view(audit.change_as_dict(row), who) for row in rows], 200, headers
