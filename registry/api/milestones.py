"""/carriers/{id}/milestones: the accreditation history, and voiding a wrong milestone."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from registry import access, carriers, directory, milestones
from registry.api import carriers as carrier_views
from registry.api.common import LIST_HEADERS, error_responses, paginate
from registry.models import Carrier, Milestone
from schemas.milestones import (
    MilestoneOutcomeSchema,
    MilestoneQueryArgsSchema,
    MilestoneSchema,
    VoidSchema,
)

blp = Blueprint(
    "milestones",
    __name__,
    url_prefix="/api/v1/carriers",
    description="A carrier's accreditation history (SPEC §2.3, §2.4). Recording a milestone "
    "applies the status machine atomically; a transition the machine refuses is a 409 naming "
    "the current status. Milestones are append-only: a wrong one is voided with a reason and "
    "the carrier is replayed from the remaining ones. Only the bureau admin writes; reads "
    "follow the carrier's non-public read rules (the bureau, operators and partners of the "
    "carrier).",
)


def outcome(milestone: Milestone, carrier_id: int) -> tuple[dict, dict]:
    """The milestone with the carrier's state after it, and the carrier's new ETag."""
    carrier = carriers.load(carrier_id)
    body = {
        "milestone": milestones.as_dict(milestone),
        "carrier": carriers.present([carrier], {carrier.id})[0],
    }
    return body, {"ETag": carrier_views.blp.etag(carrier)}


def get_for_admin(carrier_id: int) -> Carrier:
    """The carrier a bureau admin writes a milestone for (401/403 first, then 404)."""
    access.require(access.BUREAU_ADMIN)
    carrier = carriers.load(carrier_id)
    if carrier is None:
        abort(404, message=f"No carrier {carrier_id}.")
    return carrier


def get_milestone(carrier_id: int, milestone_id: int) -> Milestone:
    milestone = Milestone.get_or_none(
        (Milestone.id == milestone_id) & (Milestone.carrier == carrier_id)
    )
    if milestone is None:
        abort(404, message=f"Carrier {carrier_id} has no milestone {milestone_id}.")
    return milestone


@blp.route("/<id:carrier_id>/milestones")
class Milestones(MethodView):
    @blp.arguments(MilestoneQueryArgsSchema, location="query")
    @blp.response(200, MilestoneSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401, 403, 404)
    def get(self, args, carrier_id):
        """List a carrier's milestones in date order, voided ones included"""
        carrier = directory.fully_readable(carrier_id)
        query = milestones.history(carrier.id)
        if "voided" in args:
            query = query.where(Milestone.voided == args["voided"])
        rows, headers = paginate(query, args["page"], args["page_size"])
        return [milestones.as_dict(row) for row in rows], 200, headers

    @blp.arguments(MilestoneSchema)
    @blp.response(201, MilestoneOutcomeSchema)
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def post(self, data, carrier_id):
        """Record a milestone (bureau admin); answers it with the carrier's new state

        The body of the answer is `{"milestone": …, "carrier": …}` and the `ETag` header is
        the carrier's new one. 409 when the status machine refuses the milestone on its date
        (or it would invalidate a later one); 422 for a future date, a result on a kind that
        has none or a missing one on an evaluation, a level on a kind other than accredited /
        level_changed, a level_changed without a level.
        """
        carrier = get_for_admin(carrier_id)
        milestone = milestones.record_milestone(carrier, data)
        body, headers = outcome(milestone, carrier.id)
        headers["Location"] = f"{blp.url_prefix}/{carrier.id}/milestones/{milestone.id}"
        return body, 201, headers


@blp.route("/<id:carrier_id>/milestones/<id:milestone_id>")
class MilestonesById(MethodView):
    @blp.response(200, MilestoneSchema)
    @error_responses(blp, 401, 403, 404)
    def get(self, carrier_id, milestone_id):
        """Get one milestone of a carrier"""
        carrier = directory.fully_readable(carrier_id)
        return milestones.as_dict(get_milestone(carrier.id, milestone_id))


@blp.route("/<id:carrier_id>/milestones/<id:milestone_id>/void")
class MilestoneVoid(MethodView):
    @blp.arguments(VoidSchema)
    @blp.response(200, MilestoneOutcomeSchema)
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def post(self, data, carrier_id, milestone_id):
        """Void a wrong milestone with a reason (bureau admin); the carrier is replayed

        Answers `{"milestone": …, "carrier": …}` like recording does. 409 when the milestone
        is void already or when the history without it does not replay (e.g. evaluations
        that depend on the accreditation being voided: void them first).
        """
        carrier = get_for_admin(carrier_id)
        milestone = get_milestone(carrier.id, milestone_id)
        milestone = milestones.void_milestone(milestone, data["reason"].strip())
        body, headers = outcome(milestone, carrier.id)
        return body, 200, headers
