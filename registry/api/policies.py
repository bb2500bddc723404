"""/evaluation-policies: how each type × level of carrier is evaluated and reports."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from registry import access, policies
from registry.api.common import (
    LIST_HEADERS,
    check_if_match,
    error_responses,
    etag_of,
    etag_protected,
    paginate_list,
    read_with_etag,
)
from registry.models import EvaluationPolicy
from registry.vocabulary import CARRIER_TYPES, LEVELS
from schemas.common import update_schema
from schemas.policies import EvaluationPolicyQueryArgsSchema, EvaluationPolicySchema

blp = Blueprint(
    "evaluation-policies",
    __name__,
    url_prefix="/api/v1/evaluation-policies",
    description="Evaluation policies (SPEC §3.1), one per carrier type × level, seeded with "
    "defaults whose note says the rule each follows. Any token reads them; the bureau admin "
    "edits them (PATCH or PUT with If-Match), and an edit recomputes the derived dates "
    "(valid_until, next_evaluation_on, next_report_due_on) of every carrier of that type × "
    "level in the same transaction.",
)
ETAG = "p"


def get_policy(carrier_type: str, level: str) -> EvaluationPolicy:
    """The policy of a type × level; 404 for an unknown type or level, or a missing policy."""
    access.require_reader()
    policy = None
    if carrier_type in CARRIER_TYPES and level in LEVELS:
        policy = policies.find(carrier_type, level)
    if policy is None:
        abort(404, message=f"No evaluation policy for {carrier_type} × {level}.")
    return policy


def edit(data: dict, carrier_type: str, level: str):
    access.require(access.BUREAU_ADMIN)
    policy = get_policy(carrier_type, level)
    check_if_match(ETAG, policy)
    policy, _ = policies.update_policy(policy, data)
    return policies.as_dict(policy), 200, {"ETag": etag_of(ETAG, policy)}


@blp.route("")
class EvaluationPolicies(MethodView):
    @blp.arguments(EvaluationPolicyQueryArgsSchema, location="query")
    @blp.response(200, EvaluationPolicySchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401)
    def get(self, args):
        """List evaluation policies by type, then level from high to low"""
        access.require_reader()
        query = EvaluationPolicy.select()
        if "type" in args:
            query = query.where(EvaluationPolicy.type == args["type"])
        if "level" in args:
            query = query.where(EvaluationPolicy.level == args["level"])
        # At most one row per type × level: ordered in vocabulary order in Python.
        rows = sorted(
            query, key=lambda row: (list(CARRIER_TYPES).index(row.type), LEVELS.index(row.level))
        )
        page, headers = paginate_list(rows, args["page"], args["page_size"])
        return [policies.as_dict(row) for row in page], 200, headers


@blp.route("/<carrier_type>/<level>")
class EvaluationPoliciesByKey(MethodView):
    @blp.response(200, EvaluationPolicySchema)
    @error_responses(blp, 401, 404)
    def get(self, carrier_type, level):
        """Get the policy of one carrier type and level (with its ETag)"""
        policy = get_policy(carrier_type, level)
        return read_with_etag(ETAG, policy, lambda: policies.as_dict(policy))

    @blp.arguments(update_schema(EvaluationPolicySchema))
    @blp.response(200, EvaluationPolicySchema)
    @etag_protected(blp)
    @error_responses(blp, 400, 401, 403, 404, 413)
    def patch(self, data, carrier_type, level):
        """Edit some fields of a policy (bureau admin); carriers' derived dates follow"""
        return edit(data, carrier_type, level)

    @blp.arguments(EvaluationPolicySchema)
    @blp.response(200, EvaluationPolicySchema)
    @etag_protected(blp)
    @error_responses(blp, 400, 401, 403, 404, 413)
    def put(self, data, carrier_type, level):
        """Replace a policy's rules (bureau admin); carriers' derived dates follow

        Every rule is required (term_years and report_due may be null); a missing note or
        source clears it, a missing lapses is true.
        """
        return edit({"note": None, "source": None, "lapses": True, **data}, carrier_type, level)
