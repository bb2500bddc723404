"""/carriers: the registry itself, and /stats/carriers."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from registry import access, carriers, directory, timeline
from registry.api.common import (
    LIST_HEADERS,
    check_if_match,
    error_responses,
    etag_of,
    etag_protected,
    paginate,
    paginate_list,
    read_with_etag,
)
from registry.models import Carrier
from schemas.carriers import (
    CarrierQueryArgsSchema,
    CarrierReadArgsSchema,
    CarrierSchema,
    StatsArgsSchema,
    StatsSchema,
)
from schemas.common import update_schema

blp = Blueprint(
    "carriers",
    __name__,
    url_prefix="/api/v1",
    description="Talent carriers: the registry itself. Without a token only "
    "accredited carriers and their public fields are shown.",
)

ETAG = "c"


def get_editable(carrier_id: int, fields=()) -> Carrier:
    """The carrier, for a write: 404 when the caller may not see it, 403 when it may not
    edit it (or, for an operator, one of ``fields``)."""
    carrier, _ = access.get_readable_carrier(carrier_id)
    access.require_carrier_editor(carrier, fields)
    return carriers.load(carrier.id)


@blp.route("/carriers")
class Carriers(MethodView):
    @blp.arguments(CarrierQueryArgsSchema, location="query")
    @blp.response(200, CarrierSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401)
    def get(self, args):
        """List carriers, filtered, sorted and paginated (optionally as of a past date)"""
        if "as_of" in args:
            pasts, headers = paginate_list(directory.as_of(args), args["page"], args["page_size"])
            return directory.shown_as_of(pasts, args["as_of"]), 200, headers
        query = directory.sort(directory.visible(args), args.get("sort"))
        rows, headers = paginate(query, args["page"], args["page_size"])
        return directory.shown(rows), 200, headers

    @blp.arguments(CarrierSchema)
    @blp.response(201, CarrierSchema)
    @error_responses(blp, 400, 401, 403, 409, 413)
    def post(self, data):
        """Register a carrier (bureau admin); it starts in status applying

        409 when its host already has a carrier of that name (a refused registration does
        not count); 422 for an `established_on` in the future or a contact phone that is not
        a mainland number.
        """
        access.require_admin()
        carrier = carriers.create_carrier(data)
        return (
            directory.shown([carrier])[0],
            201,
            {"ETag": etag_of(ETAG, carrier), "Location": f"/api/v1/carriers/{carrier.id}"},
        )


@blp.route("/carriers/<id:carrier_id>")
class CarriersById(MethodView):
    @blp.arguments(CarrierReadArgsSchema, location="query")
    @blp.response(200, CarrierSchema)
    @error_responses(blp, 401, 404)
    def get(self, args, carrier_id):
        """Get one carrier (with its ETag), or its state as of a past date

        With `as_of` the answer has no ETag (it is not the editable representation) and is a
        404 when the carrier's history had not begun on that date.
        """
        carrier, _ = access.get_readable_carrier(carrier_id)
        carrier = carriers.load(carrier.id)
        if "as_of" in args:
            past = timeline.carrier_on(carrier.id, args["as_of"])
            if past is None:
                abort(404, message=f"Carrier {carrier.id} has no history on {args['as_of']}.")
            return timeline.overlay(directory.shown([carrier])[0], past, args["as_of"])
        return read_with_etag(ETAG, carrier, lambda: directory.shown([carrier])[0])

    @blp.arguments(update_schema(CarrierSchema))
    @blp.response(200, CarrierSchema)
    @etag_protected(blp)
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def patch(self, data, carrier_id):
        """Edit a carrier's descriptive fields (admin, or an operator of its organisation)

        Status, accreditation date and certificate change only through milestones; sending
        them is a 422. An operator may not move a carrier to another host organisation.
        """
        carrier = get_editable(carrier_id, data)
        check_if_match(ETAG, carrier)
        carrier = carriers.update_carrier(carrier, data)
        return directory.shown([carrier])[0], 200, {"ETag": etag_of(ETAG, carrier)}

    @blp.response(204)
    @etag_protected(blp)
    @error_responses(blp, 401, 403, 404, 409)
    def delete(self, carrier_id):
        """Delete a carrier that never held an accreditation (bureau admin)"""
        access.require_admin()
        carrier, _ = access.get_readable_carrier(carrier_id)
        check_if_match(ETAG, carrier)
        carriers.delete_carrier(carriers.load(carrier.id))
        return None


@blp.route("/stats/carriers")
class CarrierStats(MethodView):
    @blp.arguments(StatsArgsSchema, location="query")
    @blp.response(200, StatsSchema)
    @error_responses(blp, 401)
    def get(self, args):
        """Count carriers grouped by any of type, level, status, town (list filters and
        as_of apply)"""
        return directory.stats(args)
