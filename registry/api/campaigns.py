"""/evaluation-campaigns: evaluation rounds announced by notice (SPEC §3.1)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort

from registry import access, campaigns
from registry.api.common import (
    LIST_HEADERS,
    ResourceBlueprint,
    check_if_match,
    error_responses,
    etag_of,
    etag_protected,
    paginate_list,
)
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
ETAG = "ec"


def get_visible(campaign_id: int) -> EvaluationCampaign:
    """A campaign the caller may read; 404 otherwise (401 without a token)."""
    who = access.require_reader()
    campaign = EvaluationCampaign.get_or_none(EvaluationCampaign.id == campaign_id)
    if campaign is None or not (access.is_bureau(who) or campaigns.covered(campaign, who).exists()):
        abort(404, message=f"No evaluation campaign {campaign_id}.")
    return campaign


def present(campaign: EvaluationCampaign) -> dict:
    who = access.principal()
    return campaigns.as_dict(campaign, campaigns.covered(campaign, who).count())


def answer(campaign: EvaluationCampaign, status: int = 200):
    return present(campaign), status, {"ETag": etag_of(ETAG, campaign)}


@blp.route("")
class EvaluationCampaigns(MethodView):
    @blp.arguments(EvaluationCampaignQueryArgsSchema, location="query")
    @blp.response(200, EvaluationCampaignSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401)
    def get(self, args):
        """List the campaigns the caller may read, latest materials deadline first"""
        who = access.require_reader()
        rows = campaigns.visible(who)
        if "type" in args:
            rows = [row for row in rows if args["type"] in (row.types or [])]
        page, headers = paginate_list(rows, args["page"], args["page_size"])
        return [present(row) for row in page], 200, headers

    @blp.arguments(EvaluationCampaignSchema)
    @blp.response(201, EvaluationCampaignSchema)
    @error_responses(blp, 400, 401, 403, 413, 415, 422)
    def post(self, data):
        """Record a campaign (bureau admin); covered carriers' alerts open at once"""
        access.require(access.BUREAU_ADMIN)
        campaign = campaigns.create(data)
        body, _, headers = answer(campaign)
        headers["Location"] = f"/api/v1/evaluation-campaigns/{campaign.id}"
        return body, 201, headers


@blp.route("/<id:campaign_id>")
class EvaluationCampaignById(MethodView):
    @blp.response(200, EvaluationCampaignSchema)
    @error_responses(blp, 401, 404)
    def get(self, campaign_id):
        """Get one campaign (with its ETag)"""
        campaign = get_visible(campaign_id)
        return blp.read(campaign, lambda: present(campaign))

    @blp.arguments(update_schema(EvaluationCampaignSchema))
    @blp.response(200, EvaluationCampaignSchema)
    @etag_protected(blp)
    @error_responses(blp, 400, 401, 403, 404, 413, 415, 422)
    def patch(self, data, campaign_id):
        """Edit a campaign (bureau admin); the alerts of carriers covered before or after
        follow"""
        access.require(access.BUREAU_ADMIN)
        campaign = get_visible(campaign_id)
        check_if_match(ETAG, campaign)
        return answer(campaigns.update(campaign, data))

    @blp.response(204)
    @etag_protected(blp)
    @error_responses(blp, 401, 403, 404)
    def delete(self, campaign_id):
        """Delete a campaign recorded by mistake (bureau admin); the alerts only it raised
        are resolved"""
        access.require(access.BUREAU_ADMIN)
        campaign = get_visible(campaign_id)
        check_if_match(ETAG, campaign)
        campaigns.delete(campaign)
        return "", 204
