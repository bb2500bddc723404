"""/deadlines and the calendar feeds (SPEC §8), and the caller's calendar feed key."""

from __future__ import annotations

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from registry import access, clock, deadlines, directory, ical, tokens
from registry.api.common import (
    LIST_HEADERS,
    NO_STORE,
    check_if_match,
    error_responses,
    etag_of,
    etag_protected,
    page_headers,
)
from registry.api.tokens import FEED_ETAG, feed_key_etag_row
from schemas.deadlines import (
    CalendarArgsSchema,
    CarrierCalendarArgsSchema,
    DeadlineQueryArgsSchema,
    DeadlineSchema,
    FeedKeySchema,
    FeedKeyStatusSchema,
)

blp = Blueprint(
    "deadlines",
    __name__,
    url_prefix="/api/v1",
    description="Upcoming evaluations, annual-report deadlines, ends of validity and "
    "rectification deadlines of the carriers you may read, as a list and as iCalendar "
    "feeds. Feeds accept your bearer token or your calendar feed key in `?key=`.",
)

ICS = "text/calendar"
ICS_DOC = {
    "responses": {
        "200": {
            "description": "An RFC 5545 calendar: one all-day event per deadline, stable UIDs, "
            "one reminder per warning window of the carrier's policy.",
            "content": {ICS: {"schema": {"type": "string"}}},
        }
    }
}


def window(args: dict) -> dict:
    """The window and kinds of deadlines the query parameters ask for."""
    return {
        "today": clock.today(),
        "within": args["within"],
        "include_overdue": args["include_overdue"],
        "kinds": [args["kind"]] if "kind" in args else None,
    }


def found(query, args: dict) -> list[deadlines.Deadline]:
    return deadlines.deadlines(query, **window(args))


def calendar_response(items: list[deadlines.Deadline], name: str, filename: str) -> Response:
    body = ical.render(items, name=name, timezone=current_app.config["TIMEZONE"])
    return Response(
        body,
        200,
        mimetype=ICS,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, max-age=300",
        },
    )


@blp.route("/deadlines")
class Deadlines(MethodView):
    @blp.arguments(DeadlineQueryArgsSchema, location="query")
    @blp.response(200, DeadlineSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401)
    def get(self, args):
        """List upcoming deadlines of your carriers, soonest first"""
        number, size = args["page"], args["page_size"]
        items, total = deadlines.page(
            directory.readable(args), **window(args), number=number, size=size
        )
        return [item.as_dict() for item in items], 200, page_headers(total, number, size)


@blp.route("/calendar.ics")
class CalendarFeed(MethodView):
    @blp.arguments(CalendarArgsSchema, location="query")
    @blp.doc(**ICS_DOC)
    @error_responses(blp, 401)
    def get(self, args):
        """Deadlines of your carriers as an iCalendar feed (token or feed key)"""
        items = found(directory.readable(args), args)
        return calendar_response(items, "人才载体评估与报告期限", "deadlines.ics")


@blp.route("/carriers/<id:carrier_id>/calendar.ics")
class CarrierCalendarFeed(MethodView):
    @blp.arguments(CarrierCalendarArgsSchema, location="query")
    @blp.doc(**ICS_DOC)
    @error_responses(blp, 401, 403, 404)
    def get(self, args, carrier_id):
        """One carrier's deadlines as an iCalendar feed (token or feed key)"""
        carrier = directory.fully_readable(carrier_id)
        items = found(directory.readable({"carrier_id": carrier.id}), args)
        return calendar_response(items, f"{carrier.name} 期限", f"carrier-{carrier.id}.ics")


@blp.route("/me/feed-key")
class FeedKey(MethodView):
    @blp.response(200, FeedKeyStatusSchema)
    @error_responses(blp, 401)
    def get(self):
        """Say whether you have a calendar feed key (the key is never shown again)"""
        who = access.require_reader()
        return (
            {"active": who.feed_key_hash is not None},
            200,
            {"ETag": etag_of(FEED_ETAG, feed_key_etag_row(who)), **NO_STORE},
        )

    @blp.response(201, FeedKeySchema)
    @error_responses(blp, 401)
    def post(self):
        """Create your calendar feed key, replacing any previous one (shown once)

        Calendar clients cannot send headers: put the key in the feed URL's `key`
        parameter. It reads only the calendar feeds, as you; only its hash is stored. It
        dies when any of your tokens is revoked, when you hold no active token any more, or
        when a bureau admin revokes it (`DELETE /feed-keys/{principal_id}`). The answer is
        `Cache-Control: no-store`.
        """
        who = access.require_reader()
        key = tokens.issue_feed_key(who)
        return (
            {
                "feed_key": key,
                "calendar_url": f"{request.host_url}api/v1/calendar.ics?key={key}",
                "carrier_calendar_url": f"{request.host_url}api/v1/carriers/{{id}}/calendar.ics"
                f"?key={key}",
                "created_at": who.updated_at,
            },
            201,
            {"ETag": etag_of(FEED_ETAG, feed_key_etag_row(who)), **NO_STORE},
        )

    @blp.response(204)
    @etag_protected(blp)
    @error_responses(blp, 401, 404)
    def delete(self):
        """Revoke your calendar feed key: feeds using it answer 401 from now on"""
        who = access.require_reader()
        if who.feed_key_hash is None:
            abort(404, message="You have no calendar feed key.")
        check_if_match(FEED_ETAG, feed_key_etag_row(who))
        tokens.revoke_feed_key(who)
        return None
