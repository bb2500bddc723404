"""/evaluation-policies: how each type × level of carrier is evaluated and reports."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort

from registry import access, policies
from registry.api.common import ResourceBlueprint, error_responses, paginate_list
from registry.models import EvaluationPolicy
from registry.vocabulary import CARRIER_TYPES, LEVELS
from schemas.common import update_schema
from schemas.policies import EvaluationPolicyQueryArgsSchema, EvaluationPolicySchema

blp = ResourceBlueprint(
    "evaluation-policies",
    __name__,
    url_prefix="/api/v1/evaluation-policies",
    description="Evaluation policies (SPEC §3.1), one per carrier type × level, seeded with "
    "defaults whose note says the rule each follows. Any token reads them; the bureau admin "
    "edits them (PATCH or PUT with If-Match), and an edit recomputes the derived dates "
    "(valid_until, next_evaluation_on, next_report_due_on) of every carrier of that type × "
    "level in the same transaction.",
    etag_prefix="p",
)


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
    policy, _ = policies.update_policy(policy.id, data, blp.expected_version(policy.id))
    return blp.written(policies.as_dict(policy), policy)


@blp.route("")
class EvaluationPolicies(MethodView):
    @blp.listing(EvaluationPolicyQueryArgsSchema, EvaluationPolicySchema(many=True), 401)
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
    @blp.read_response(EvaluationPolicySchema)
    @error_responses(blp, 401, 404)
    def get(self, carrier_type, level):
        """Get the policy of one carrier type and level (with its ETag)"""
        policy = get_policy(carrier_type, level)
        return blp.read(policy, lambda: policies.as_dict(policy))

    @blp.arguments(update_schema(EvaluationPolicySchema))
    @blp.write_response(EvaluationPolicySchema)
    @blp.etag_protected
    @error_responses(blp, 400, 401, 403, 404, 413)
    def patch(self, data, carrier_type, level):
        """Edit some fields of a policy (bureau admin); carriers' derived dates follow"""
        return edit(data, carrier_type, level)

    @blp.arguments(EvaluationPolicySchema)
    @blp.write_response(EvaluationPolicySchema)
    @blp.etag_protected
    @error_responses(blp, 400, 401, 403, 404, 413)
    def put(self, data, carrier_type, level):
        """Replace a policy's rules (bureau admin); carriers' derived dates follow

        Every rule is required (term_years and report_due may be null); a missing note or
        source clears it, a missing lapses is true.
        """
        return edit({"note": None, "source": None, "lapses": True, **data}, carrier_type, level)
