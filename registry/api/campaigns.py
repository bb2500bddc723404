"""/evaluation-campaigns: evaluation rounds announced by notice (SPEC §3.1)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort

from registry import access, campaigns
from registry.api.common import ResourceBlueprint, error_responses, sort_columns
from registry.models import EvaluationCampaign
from schemas.campaigns import EvaluationCampaignQueryArgsSchema, EvaluationCampaignSchema
from schemas.common import update_schema

blp = ResourceBlueprint(
    "evaluation-campaigns",
    __name__,
    url_prefix="/api/v1/evaluation-campaigns",
    description="Evaluation campaigns (SPEC §3.1): rounds announced by notice, such as the "
    "national comprehensive evaluation of postdoctoral workstations. A campaign covers the "
    "accredited carriers of its types and levels accredited before a date, and opens an "
    "evaluation_due alert for each inside its warning window before the materials deadline "
    "(evaluation_overdue after it), until an evaluation dated on or after opened_on is "
    "recorded. Writes reconcile the covered carriers' alerts in the same transaction. The "
    "bureau admin records, edits and deletes campaigns; the bureau reads every campaign; "
    "operators and partners read those covering at least one of their own carriers, with "
    "covered_count counting only those.",
    etag_prefix="ec",
)
SORTS = sort_columns(EvaluationCampaignQueryArgsSchema, EvaluationCampaign)


def get_visible(campaign_id: int) -> EvaluationCampaign:
    """A campaign the caller may read; 404 otherwise (401 without a token)."""
    who = access.require_reader()
    campaign = blp.get_or_404(EvaluationCampaign.select(), campaign_id, campaigns.WHAT)
    if not (access.is_bureau(who) or campaigns.covered(campaign, who).exists()):
        abort(404, message=f"No {campaigns.WHAT} {campaign_id}.")
    return campaign


def present(campaign: EvaluationCampaign) -> dict:
    """The campaign with ``covered_count`` as the caller sees it."""
    who = access.principal()
    return campaigns.as_dict(campaign, campaigns.covered(campaign, who).count())


@blp.route("")
class EvaluationCampaigns(MethodView):
    @blp.listing(EvaluationCampaignQueryArgsSchema, EvaluationCampaignSchema(many=True), 401)
    def get(self, args):
        """List the campaigns the caller may read (default: latest materials deadline first)"""
        query = campaigns.visible(access.require_reader(), args.get("type"))
        if "q" in args:
            query = query.where(EvaluationCampaign.name.contains(args["q"]))
        return blp.page(
            query,
            args,
            lambda rows: [present(row) for row in rows],
            SORTS,
            EvaluationCampaign.materials_due_on.desc(),
        )

    @blp.arguments(EvaluationCampaignSchema)
    @blp.write_response(EvaluationCampaignSchema, 201)
    @error_responses(blp, 400, 401, 403, 413, 415, 422)
    def post(self, data):
        """Record a campaign (bureau admin); covered carriers' alerts open at once"""
        access.require(access.BUREAU_ADMIN)
        campaign = campaigns.create(data)
        return blp.created(present(campaign), campaign)


@blp.route("/<id:campaign_id>")
class EvaluationCampaignById(MethodView):
    @blp.read_response(EvaluationCampaignSchema, conditional=False)
    @error_responses(blp, 401, 404)
    def get(self, campaign_id):
        """Get one campaign (with its ETag)

        The ETag names the campaign's version (for If-Match); covered_count moves with the
        carriers without it changing, so the answer is never a 304.
        """
        campaign = get_visible(campaign_id)
        return blp.written(present(campaign), campaign)

    @blp.arguments(update_schema(EvaluationCampaignSchema))
    @blp.write_response(EvaluationCampaignSchema)
    @blp.etag_protected
    @error_responses(blp, 400, 401, 403, 404, 413, 415, 422)
    def patch(self, data, campaign_id):
        """Edit a campaign (bureau admin; If-Match required); the alerts of carriers covered
        before or after follow"""
        access.require(access.BUREAU_ADMIN)
        get_visible(campaign_id)
        campaign = campaigns.update(campaign_id, data, blp.expected_version(campaign_id))
        return blp.written(present(campaign), campaign)

    @blp.response(204)
    @blp.etag_protected
    @error_responses(blp, 401, 403, 404)
    def delete(self, campaign_id):
        """Delete a campaign recorded by mistake (bureau admin; If-Match required); the alerts
        only it raised are resolved"""
        access.require(access.BUREAU_ADMIN)
        get_visible(campaign_id)
        campaigns.delete(campaign_id, blp.expected_version(campaign_id))
        return None
