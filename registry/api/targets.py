"""/targets: the bureau's goals with live progress (SPEC §3.4)."""

from __future__ import annotations

from flask.views import MethodView

from registry import access, clock, targets
from registry.api.common import ResourceBlueprint, error_responses, sort_columns
from registry.db import apply_sort
from registry.models import Target
from schemas.common import update_schema
from schemas.targets import TargetQueryArgsSchema, TargetSchema

blp = ResourceBlueprint(
    "targets",
    __name__,
    url_prefix="/api/v1/targets",
    description="Targets (SPEC §3.4): carrier_count or report_sum goals with a value and a "
    "deadline; `progress` (current, percent, expected, state) is computed on every read. "
    "State: achieved once current ≥ target_value; missed when the deadline has passed "
    "without it; otherwise on_track when current is at least the linear pace (target_value × "
    "elapsed share of the period from starts_on — default 1 January of the deadline year — to "
    "the deadline), else at_risk. The bureau reads them; the bureau admin writes.",
    etag_prefix="t",
)
SORTS = sort_columns(TargetQueryArgsSchema, Target)


def get_target(target_id: int) -> Target:
    access.require_bureau_reader()
    return blp.get_or_404(Target.select(), target_id, "target")


def listed(args: dict):
    """The targets (the bureau reads them: 401/403 otherwise), narrowed by the list's
    filters and sorted (nearest deadline first by default): the list and the export."""
    access.require_bureau_reader()
    query = Target.select()
    if "metric" in args:
        query = query.where(Target.metric == args["metric"])
    if "year" in args:
        query = query.where(Target.year == args["year"])
    if "q" in args:
        query = query.where(Target.name.contains(args["q"]))
    return apply_sort(query, args.get("sort"), SORTS, Target.deadline)


@blp.route("")
class Targets(MethodView):
    @blp.listing(TargetQueryArgsSchema, TargetSchema(many=True), 401, 403)
    def get(self, args):
        """List targets with their live progress (bureau)"""
        today = clock.today()
        return blp.page(
            listed(args), args, lambda rows: [targets.as_dict(row, today) for row in rows]
        )

    @blp.arguments(TargetSchema)
    @blp.write_response(TargetSchema, 201)
    @error_responses(blp, 400, 401, 403, 413)
    def post(self, data):
        """Create a target (bureau admin)"""
        access.require(access.BUREAU_ADMIN)
        target = targets.create_target(data)
        return blp.created(targets.as_dict(target), target)


@blp.route("/<id:target_id>")
class TargetsById(MethodView):
    @blp.read_response(TargetSchema, conditional=False)
    @error_responses(blp, 401, 403, 404)
    def get(self, target_id):
        """Get one target with its live progress (bureau; with its ETag)

        The ETag names the target's version (for If-Match); progress moves without it
        changing, so the answer is never a 304.
        """
        target = get_target(target_id)
        return blp.written(targets.as_dict(target), target)

    @blp.arguments(update_schema(TargetSchema))
    @blp.write_response(TargetSchema)
    @blp.etag_protected
    @error_responses(blp, 400, 401, 403, 404, 413)
    def patch(self, data, target_id):
        """Edit a target (bureau admin); a new filter replaces the old one whole"""
        access.require(access.BUREAU_ADMIN)
        get_target(target_id)
        target = targets.update_target(target_id, data, blp.expected_version(target_id))
        return blp.written(targets.as_dict(target), target)

    @blp.response(204)
    @blp.etag_protected
    @error_responses(blp, 401, 403, 404)
    def delete(self, target_id):
        """Delete a target (bureau admin)"""
        access.require(access.BUREAU_ADMIN)
        get_target(target_id)
        targets.delete_target(target_id, blp.expected_version(target_id))
        return None
