"""/changes (the audit trail, read-only) and /carriers/{id}/history (one carrier's trail)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from registry import access, directory, rosters
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


def as_dict(change: Change) -> dict:
    """An audit record as the API shows it, with the top-level fields it changed (all of
    them for a creation or a deletion)."""
    before, after = change.before or {}, change.after or {}
    if change.before is None or change.after is None:
        changed = sorted(before or after)
    else:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return {
        "id": change.id,
        "at": change.at,
        "actor": change.actor,
        "actor_id": change.actor_id,
        "token_name": change.token_name,
        "action": change.action,
        "object_type": change.object_type,
        "object_id": change.object_id,
        "carrier_id": change.carrier_id,
        "before": change.before,
        "after": change.after,
        "changed": changed,
        "request_id": change.request_id,
        "created_at": change.created_at,
        "updated_at": change.updated_at,
    }


def filtered(query, args: dict):
    """``query`` narrowed by the audit filters, in the order asked (newest first by default)."""
    for name in ("object_type", "object_id", "actor", "actor_id", "action", "request_id"):
        if name in args:
            query = query.where(getattr(Change, name) == args[name])
    if "time_from" in args:
        query = query.where(Change.at >= args["time_from"][0])
    if "time_to" in args:
        bound, inclusive = args["time_to"]
        query = query.where(Change.at <= bound if inclusive else Change.at < bound)
    if args.get("sort") == "at":
        return query.order_by(Change.at, Change.id)
    return query.order_by(Change.at.desc(), Change.id.desc())


@blp.route("/changes")
class Changes(MethodView):
    @blp.arguments(ChangeQueryArgsSchema, location="query")
    @blp.response(200, ChangeSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401, 403)
    def get(self, args):
        """List audit records, filtered by object, actor, action and time (bureau)"""
        who = access.require_bureau()
        rows, headers = paginate(filtered(Change.select(), args), args["page"], args["page_size"])
        return [rosters.audit_view(as_dict(row), who) for row in rows], 200, headers


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
        query = filtered(Change.select().where(Change.carrier_id == carrier.id), args)
        rows, headers = paginate(query, args["page"], args["page_size"])
        who = access.principal()
        return [rosters.audit_view(as_dict(row), who) for row in rows], 200, headers
