"""/carriers/{id}/members and /members: carrier rosters (issue 12)."""

from __future__ import annotations

from flask.views import MethodView

from registry import access, clock, directory, rosters
from registry.api.common import ResourceBlueprint, error_responses, sort_columns
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
#: The sort keys of both roster lists (those of one carrier are a subset).
SORTS = sort_columns(AllMemberQueryArgsSchema, Member, carrier_id=Member.carrier)


def listed(query, args):
    """A sorted page of ``query`` narrowed by the roster filters, with the list headers."""
    query = rosters.filtered(query, args, clock.today())
    return blp.page(query, args, rosters.present, SORTS, Member.started_on.desc(nulls="LAST"))


def get_member(carrier_id: int, member_id: int) -> Member:
    """An entry of a carrier whose roster the caller may read (401, 403, 404)."""
    carrier = directory.fully_readable(carrier_id)
    roster = Member.select().where(Member.carrier == carrier.id)
    return blp.get_or_404(roster, member_id, f"member of carrier {carrier.id} with id")


@blp.route("/carriers/<id:carrier_id>/members")
class CarrierMembers(MethodView):
    @blp.listing(MemberQueryArgsSchema, MemberSchema(many=True), 401, 403, 404)
    def get(self, args, carrier_id):
        """List a carrier's roster (whoever may read the carrier fully)

        Newest entries first by default. 403 for a caller that may read only the carrier's
        public fields: its counts are on the carrier (`roster_metrics`).
        """
        carrier = directory.fully_readable(carrier_id)
        return listed(Member.select().where(Member.carrier == carrier.id), args)

    @blp.arguments(MemberSchema)
    @blp.write_response(MemberSchema, 201)
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
        return blp.created(
            rosters.as_dict(member),
            member,
            f"{blp.url_prefix}/carriers/{carrier.id}/members/{member.id}",
        )


@blp.route("/carriers/<id:carrier_id>/members/<id:member_id>")
class CarrierMembersById(MethodView):
    @blp.read_response(MemberSchema)
    @error_responses(blp, 401, 403, 404)
    def get(self, carrier_id, member_id):
        """Get one roster entry (with its ETag)"""
        member = get_member(carrier_id, member_id)
        return blp.read(member, lambda: rosters.as_dict(member))

    @blp.arguments(update_schema(MemberUpdateSchema))
    @blp.write_response(MemberSchema)
    @blp.etag_protected
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
        member = rosters.update_member(member.id, data, blp.expected_version(member.id))
        return blp.written(rosters.as_dict(member), member)

    @blp.response(204)
    @blp.etag_protected
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
        rosters.erase_member(member.id, blp.expected_version(member.id))
        return None


@blp.route("/members")
class Members(MethodView):
    @blp.listing(AllMemberQueryArgsSchema, MemberSchema(many=True), 401)
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
