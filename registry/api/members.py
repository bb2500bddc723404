"""/carriers/{id}/members and /members: carrier rosters (issue 12)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort

from registry import access, clock, directory, rosters
from registry.api.common import (
    LIST_HEADERS,
    ResourceBlueprint,
    check_if_match,
    error_responses,
    etag_of,
    etag_protected,
    paginate,
)
from registry.db import apply_sort
from registry.models import Member
from schemas.common import update_schema
from schemas.members import (
    AllMemberQueryArgsSchema,
    MemberQueryArgsSchema,
    MemberSchema,
    MemberUpdateSchema,
    PrefillArgsSchema,
    PrefillSchema,
)

blp = ResourceBlueprint(
    "members",
    __name__,
    url_prefix="/api/v1",
    description="Carrier rosters: postdocs in and out of stations, experts, masters and "
    "apprentices, resident enterprises, trainee cohorts. Roles by carrier type (a role the "
    "carrier's type does not take is a 422). Read by whoever may read the carrier fully (the "
    "bureau; operators their own carriers; partners their approved joint bases); the public "
    "and other organisations see the counts on the carrier (`roster_metrics`) only. Written "
    "by the bureau admin and the carrier's operators. Personal fields (name, institution, "
    "title, topic) are masked in the audit trail for readers other than the bureau; DELETE "
    "erases them on request (PIPL) and keeps the entry, so counts stay right.",
    etag_prefix="m",
)
ETAG = "m"
SORTS = {
    "name": Member.name,
    "role": Member.role,
    "carrier_id": Member.carrier,
    "started_on": Member.started_on,
    "ended_on": Member.ended_on,
    "planned_end_on": Member.planned_end_on,
    "created_at": Member.created_at,
}


def listed(query, args):
    """A sorted page of ``query`` as the API shows it, with the list headers."""
    query = rosters.filtered(query, args, clock.today())
    query = apply_sort(query, args.get("sort"), SORTS, Member.started_on.desc(nulls="LAST"))
    rows, headers = paginate(query, args["page"], args["page_size"])
    return rosters.present(rows), 200, headers


def get_member(carrier_id: int, member_id: int) -> Member:
    """An entry of a carrier whose roster the caller may read (401, 403, 404)."""
    carrier = directory.fully_readable(carrier_id)
    member = Member.get_or_none((Member.id == member_id) & (Member.carrier == carrier.id))
    if member is None:
        abort(404, message=f"Carrier {carrier_id} has no member {member_id}.")
    return member


@blp.route("/carriers/<id:carrier_id>/members")
class CarrierMembers(MethodView):
    @blp.arguments(MemberQueryArgsSchema, location="query")
    @blp.response(200, MemberSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401, 403, 404)
    def get(self, args, carrier_id):
        """List a carrier's roster (whoever may read the carrier fully)

        Newest entries first by default. 403 for a caller that may read only the carrier's
        public fields: its counts are on the carrier (`roster_metrics`).
        """
        carrier = directory.fully_readable(carrier_id)
        return listed(Member.select().where(Member.carrier == carrier.id), args)

    @blp.arguments(MemberSchema)
    @blp.response(201, MemberSchema)
    @error_responses(blp, 400, 401, 403, 404, 413)
    def post(self, data, carrier_id):
        """Add a roster entry (bureau admin, or an operator of the carrier)

        422 for a role the carrier's type does not take, fields the role does not take or
        lacks, an end before the start, an end (出站) without a start (进站), an end in the
        future, overlapping stays of the same person or enterprise at this carrier, or a
        postdoc's planned stay beyond the policy's. A postdoc's `planned_end_on` defaults
        to 进站 + the policy's stay (2 years). Emits `member.created` (no personal fields).
        """
        carrier = directory.fully_readable(carrier_id)
        access.require_carrier_operator(carrier)
        member = rosters.create_member(carrier, data)
        return (
            rosters.as_dict(member),
            201,
            {
                "ETag": etag_of(ETAG, member),
                "Location": f"/api/v1/carriers/{carrier.id}/members/{member.id}",
            },
        )


@blp.route("/carriers/<id:carrier_id>/members/<id:member_id>")
class CarrierMembersById(MethodView):
    @blp.response(200, MemberSchema)
    @error_responses(blp, 401, 403, 404)
    def get(self, carrier_id, member_id):
        """Get one roster entry (with its ETag)"""
        member = get_member(carrier_id, member_id)
        return blp.read(member, lambda: rosters.as_dict(member))

    @blp.arguments(update_schema(MemberUpdateSchema))
    @blp.response(200, MemberSchema)
    @etag_protected(blp)
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def patch(self, data, carrier_id, member_id):
        """Edit a roster entry; end a stay (出站, move-out) with `ended_on` and `outcome`

        The same rules as on creation (422). Moving a postdoc's `planned_end_on` past its
        regular stay is its one extension (`extended` becomes true, outcome `extended`
        while in station); a second extension is a 422. An erased entry's personal fields
        stay empty (409). Emits `member.updated`.
        """
        member = get_member(carrier_id, member_id)
        access.require_carrier_operator(member.carrier)
        check_if_match(ETAG, member)
        member = rosters.update_member(member, data, version=member.version)
        return rosters.as_dict(member), 200, {"ETag": etag_of(ETAG, member)}

    @blp.response(204)
    @etag_protected(blp)
    @error_responses(blp, 401, 403, 404, 409)
    def delete(self, carrier_id, member_id):
        """Erase a roster entry's personal fields on request (PIPL)

        Name, institution, title and topic are removed from the entry and from its earlier
        audit records; the entry stays (`erased: true`) with its role, dates and outcome, so
        the carrier's counts and alerts stay right. 409 when erased already. Emits
        `member.erased`.
        """
        member = get_member(carrier_id, member_id)
        access.require_carrier_operator(member.carrier)
        check_if_match(ETAG, member)
        rosters.erase_member(member, version=member.version)
        return None


@blp.route("/members")
class Members(MethodView):
    @blp.arguments(AllMemberQueryArgsSchema, location="query")
    @blp.response(200, MemberSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401)
    def get(self, args):
        """List the roster entries the caller may read, across carriers

        The bureau reads all; operators the rosters of their own carriers; partners those of
        their approved joint bases. Filters: carrier_id, role, active (on the roster today),
        q (name search).
        """
        who = access.require_reader()
        return listed(rosters.readable(who), args)


@blp.route("/carriers/<id:carrier_id>/annual-reports/prefill")
class ReportPrefill(MethodView):
    @blp.arguments(PrefillArgsSchema, location="query")
    @blp.response(200, PrefillSchema)
    @error_responses(blp, 401, 403, 404)
    def get(self, args, carrier_id):
        """Annual-report metrics of a year pre-filled from the carrier's roster

        Only the metrics the roster answers for the carrier's type (e.g. postdocs in station
        at the year's end, recruited and completed in the year; enterprises incubated and
        graduated; trainees in the year's cohorts). Post them, completed, to
        /carriers/{id}/annual-reports. Whoever may read the carrier fully.
        """
        carrier = directory.fully_readable(carrier_id)
        return {"year": args["year"], "metrics": rosters.report_figures(carrier, args["year"])}
