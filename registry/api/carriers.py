"""/carriers: the registry itself, and /stats/carriers."""

from __future__ import annotations

from flask.views import MethodView

from registry import access, carriers, directory
from registry.api.common import ResourceBlueprint, error_responses, page_headers
from schemas.carriers import (
    CarrierQueryArgsSchema,
    CarrierReadArgsSchema,
    CarrierSchema,
    StatsArgsSchema,
    StatsSchema,
)
from schemas.common import update_schema

blp = ResourceBlueprint(
    "carriers",
    __name__,
    url_prefix="/api/v1",
    description="Talent carriers: the registry itself. Without a token only "
    "accredited carriers and their public fields are shown.",
    etag_prefix="c",
)

#: The ETag variant of the public fields only: a full reader's ETag must never match it.
PUBLIC = "public"


@blp.route("/carriers")
class Carriers(MethodView):
    @blp.listing(CarrierQueryArgsSchema, CarrierSchema(many=True), 401, 403)
    def get(self, args):
        """List carriers, filtered, sorted and paginated (optionally as of a past date)"""
        items, total = directory.listing(args)
        return items, 200, page_headers(total, args["page"], args["page_size"])

    @blp.arguments(CarrierSchema)
    @blp.write_response(CarrierSchema, 201)
    @error_responses(blp, 400, 401, 403, 409, 413)
    def post(self, data):
        """Register a carrier (bureau admin); it starts in status applying

        409 when its host already has a carrier of that name (a refused registration does
        not count); 422 for an `established_on` in the future or a contact phone that is not
        a mainland number.
        """
        access.require_admin()
        carrier = carriers.create_carrier(data)
        return blp.created(
            directory.shown([carrier])[0], carrier, f"{blp.url_prefix}/carriers/{carrier.id}"
        )


@blp.route("/carriers/<id:carrier_id>")
class CarriersById(MethodView):
    @blp.arguments(CarrierReadArgsSchema, location="query")
    @blp.read_response(CarrierSchema)
    @error_responses(blp, 401, 404)
    def get(self, args, carrier_id):
        """Get one carrier (with its ETag), or its state as of a past date

        With `as_of` the answer has no ETag (it is not the editable representation) and is a
        404 when the carrier's history had not begun on that date, or when it was not in the
        public directory then and is not one of yours.
        """
        if "as_of" in args:
            return directory.find_as_of(carrier_id, args["as_of"])
        carrier = directory.find(carrier_id)
        full = access.can_read_carrier_fully(access.principal(), carrier)
        return blp.read(
            carrier, lambda: directory.shown([carrier])[0], variant="" if full else PUBLIC
        )

    @blp.arguments(update_schema(CarrierSchema))
    @blp.write_response(CarrierSchema)
    @blp.etag_protected
    @error_responses(blp, 400, 401, 403, 404, 409, 413)
    def patch(self, data, carrier_id):
        """Edit a carrier's descriptive fields (admin, or an operator of its organisation)

        Status, accreditation date and certificate change only through milestones; sending
        them is a 422. An operator may not move a carrier to another host organisation.
        """
        access.require_carrier_editor(directory.find(carrier_id), data)
        expected = blp.expected_version(carrier_id)
        carrier = carriers.update_carrier(
            carrier_id, data, expected, check=lambda row: access.require_carrier_editor(row, data)
        )
        return blp.written(directory.shown([carrier])[0], carrier)

    @blp.response(204)
    @blp.etag_protected
    @error_responses(blp, 401, 403, 404, 409)
    def delete(self, carrier_id):
        """Delete a carrier that never held an accreditation (bureau admin)"""
        access.require_admin()
        directory.find(carrier_id)
        carriers.delete_carrier(carrier_id, blp.expected_version(carrier_id))
        return None


@blp.route("/stats/carriers")
class CarrierStats(MethodView):
    @blp.arguments(StatsArgsSchema, location="query")
    @blp.response(200, StatsSchema)
    @error_responses(blp, 401, 403)
    def get(self, args):
        """Count carriers grouped by any of type, level, status, town (list filters and
        as_of apply)"""
        return directory.stats(args)
