"""/carriers: the registry itself, and /stats/carriers."""

from __future__ import annotations

from collections import Counter

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from peewee import fn

from registry import access, carriers, timeline
from registry.api.common import (
    LIST_HEADERS,
    apply_sort,
    check_if_match,
    error_responses,
    etag_of,
    etag_protected,
    not_modified,
    paginate,
    paginate_list,
)
from registry.models import Carrier
from registry.vocabulary import CARRIER_STATUSES, CARRIER_TYPES, LEVELS
from schemas.carriers import (
    CARRIER_SORTS,
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
SORTS = {name: getattr(Carrier, name) for name in CARRIER_SORTS}
#: Groups come in vocabulary order (levels high to low), towns by name.
ORDER = {
    "type": lambda value: (list(CARRIER_TYPES).index(value), ""),
    "level": lambda value: (LEVELS.index(value), ""),
    "status": lambda value: (list(CARRIER_STATUSES).index(value), ""),
    "town": lambda value: (0, value or ""),
}


#: Filters on dates that only a full reader of a carrier may see.
DATE_FILTERS = {
    "evaluation_due_before": Carrier.next_evaluation_on,
    "report_due_before": Carrier.next_report_due_on,
}


def filtered(args: dict, skip=frozenset()):
    """The carriers the caller may see, narrowed by the list filters (except ``skip``).

    Filters on non-public dates match only carriers the caller may read fully, so that the
    public directory never reveals them (and its totals agree with what it shows).
    """
    who = access.principal()
    query = access.carrier_scope(carriers.with_host(), who)
    query = carriers.filter_carriers(query, args, skip=skip | DATE_FILTERS.keys())
    for name, column in DATE_FILTERS.items():
        if name in args and name not in skip and args[name] is not None:
            query = query.where(access.readable_column(column, who) <= args[name])
    return query


def sorts() -> dict:
    """The sort keys, each as the caller may sort on it (hidden values sort as null)."""
    who = access.principal()
    return {name: access.readable_column(column, who) for name, column in SORTS.items()}


def shown(rows: list[Carrier]) -> list[dict]:
    """Carriers as the caller may see them: public fields only where it may not read fully."""
    full = access.full_read_ids(access.principal(), rows)
    items = carriers.present(rows, full)
    return [item if item["id"] in full else access.public_view(item) for item in items]


def public_only(item: dict) -> dict:
    """A carrier dict reduced to its public fields (see ``access.public_view``)."""
    return access.public_view(item)


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
            return list_as_of(args)
        query = apply_sort(filtered(args), args.get("sort"), sorts(), Carrier.name)
        rows, headers = paginate(query, args["page"], args["page_size"])
        return shown(rows), 200, headers

    @blp.arguments(CarrierSchema)
    @blp.response(201, CarrierSchema)
    @error_responses(blp, 400, 401, 403, 413)
    def post(self, data):
        """Register a carrier (bureau admin); it starts in status applying"""
        access.require_admin()
        carrier = carriers.create_carrier(data)
        return (
            shown([carrier])[0],
            201,
            {"ETag": etag_of(ETAG, carrier), "Location": f"/api/v1/carriers/{carrier.id}"},
        )


def list_as_of(args: dict):
    """The list as it stood on ``as_of``: lifecycle filters and sorts on the replayed state,
    paginated after filtering (see registry.timeline)."""
    day = args["as_of"]
    query = filtered(args, skip=carriers.LIFECYCLE_FILTERS)
    found = timeline.carriers_on(query, day, args, args.get("sort"))
    page, headers = paginate_list(found, args["page"], args["page_size"])
    pasts = {past.id: past for past in page}
    items = shown(carriers.load_many(list(pasts)))
    return [timeline.overlay(item, pasts[item["id"]], day) for item in items], 200, headers


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
            return timeline.overlay(shown([carrier])[0], past, args["as_of"])
        etag = etag_of(ETAG, carrier)
        if not_modified(etag):
            return "", 304, {"ETag": etag}
        return shown([carrier])[0], 200, {"ETag": etag}

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
        return shown([carrier])[0], 200, {"ETag": etag_of(ETAG, carrier)}

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
        keys = args["group_by"].split(",")
        if "as_of" in args:
            groups = stats_as_of(args, keys)
        else:
            columns = [getattr(Carrier, key) for key in keys]
            query = (
                filtered(args)
                .select(*columns, fn.COUNT(Carrier.id).alias("count"))
                .group_by(*columns)
                .dicts()
            )
            groups = [{**{key: row[key] for key in keys}, "count": row["count"]} for row in query]
        groups.sort(key=lambda group: tuple(ORDER[key](group[key]) for key in keys))
        return {"total": sum(group["count"] for group in groups), "groups": groups}


def stats_as_of(args: dict, keys: list[str]) -> list[dict]:
    """The groups of the carriers as they stood on ``as_of`` (counted in Python)."""
    query = filtered(args, skip=carriers.LIFECYCLE_FILTERS)
    counts = Counter(
        tuple(timeline.value_of(past, key) for key in keys)
        for past in timeline.carriers_on(query, args["as_of"], args)
    )
    return [
        {**dict(zip(keys, group, strict=True)), "count": count} for group, count in counts.items()
    ]
