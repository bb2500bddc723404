"""The directory pages (issue 13 #0 and #3): the public directory at ``/`` and each carrier's
public page, and for signed-in people the filterable carrier list, the carrier page, the
exports of the current filter and the calendar feed link.

Every list and page reads through :mod:`registry.directory` exactly as the API does — the
query string is loaded by the API's own ``CarrierQueryArgsSchema``, the list is
:func:`registry.directory.listing` (``GET /carriers``), one carrier is
:func:`registry.directory.find` and :func:`registry.directory.shown` (``GET /carriers/{id}``),
its records need :func:`registry.directory.fully_readable` — so a page shows each person
exactly what the API would answer them, and a field hidden from the API is hidden here.
The public pages read as nobody (no sign-in counts there): what a citizen sees.
"""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for

from registry import (
    access,
    alerts,
    audit,
    directory,
    i18n,
    milestones,
    places,
    reports,
    rosters,
    spreadsheets,
    tokens,
)
from registry.api.spreadsheets import download
from registry.errors import DomainError
from registry.models import Alert, Carrier
from registry.web import query
from registry.web.pages import bp, signed_in
from schemas.carriers import CARRIER_SORTS, CarrierQueryArgsSchema
from schemas.spreadsheets import CarrierExportArgsSchema

#: Audit records shown on a carrier page (newest first; the API pages through the rest).
HISTORY_ROWS = 50
#: Filters of the public directory's form (the API's own parameters, public ones only).
PUBLIC_FILTERS = ("q", "type", "level", "town")
#: Filters of the signed-in list's form; ``HIDDEN`` ones are offered to the bureau only.
LIST_FILTERS = (
    "q",
    "type",
    "level",
    "level_min",
    "status",
    "town",
    "tag",
    "accredited_from",
    "accredited_to",
    "evaluation_due_before",
    "report_due_before",
    "as_of",
)


@bp.app_context_processor
def _directory_helpers() -> dict[str, Any]:
    return {
        "local_time": query.local_time,
        "number": query.number,
        "field_labels": query.field_labels(),
        "filter_labels": query.FILTER_LABELS,
        "coded_filters": query.CODED_FILTERS,
        "date_filters": query.DATE_FILTERS,
    }


def _read_list() -> dict[str, Any]:
    """The list the query string asks for, read as the current caller, for a template."""
    args, errors = query.load_args(CarrierQueryArgsSchema())
    items, total = [], 0
    try:
        items, total = directory.listing(args)
    except DomainError as refused:
        errors = {**errors, **i18n.translate_errors(refused.errors or {"_": [refused.message]})}
    return {
        "args": args,
        "errors": errors,
        "values": query.current_query(),
        "items": items,
        "total": total,
        "pages": query.page_links(total, args["page"], args["page_size"]),
        "towns": places.towns(),
    }


# --- the public directory -------------------------------------------------------------------


@bp.route("/")
def public_directory():
    """The public directory: accredited carriers, public fields, as nobody reads them."""
    with spreadsheets.acting_as(None):
        listed = _read_list()
    return render_template("public_directory.html", filters=PUBLIC_FILTERS, **listed), (
        400 if listed["errors"] else 200
    )


@bp.route("/directory/<id:carrier_id>")
def public_carrier(carrier_id: int):
    """A carrier's public page: 404 unless it is in the public directory."""
    with spreadsheets.acting_as(None):
        page = carrier_page(carrier_id)
    return render_template("carrier.html", public=True, **page)


# --- signed in ------------------------------------------------------------------------------


@bp.route("/carriers")
@signed_in()
def carrier_list():
    """The carriers the signed-in person may see, with the API's filters kept in the URL."""
    who = access.principal()
    listed = _read_list()
    filters = [
        name
        for name in LIST_FILTERS
        if access.is_bureau(who) or name not in directory.HIDDEN_FILTERS
    ]
    sorts = [
        key for key in CARRIER_SORTS if access.is_bureau(who) or key not in directory.HIDDEN_SORTS
    ]
    extra = {key: value for key, value in listed["values"].items() if key not in filters}
    return render_template(
        "carriers.html",
        filters=filters,
        sorts=sorts,
        kept=[(key, value) for key, value in extra.items() if key not in ("page", "sort")],
        export_query={k: v for k, v in listed["values"].items() if k not in ("page", "page_size")},
        **listed,
    ), (400 if listed["errors"] else 200)


@bp.route("/carriers/export")
@signed_in()
def carrier_export():
    """The current filter of the list as XLSX or CSV (``registry.spreadsheets``, as
    ``GET /api/v1/carriers/export``)."""
    who = access.principal()
    args, errors = query.load_args(CarrierExportArgsSchema())
    if errors:
        abort(400)
    fmt = args.pop("format")
    try:
        return download(*spreadsheets.export_carriers(who, args, fmt))
    except DomainError as refused:
        abort(refused.status)


@bp.route("/carriers/<id:carrier_id>")
def carrier(carrier_id: int):
    """A carrier as the signed-in person may see it (the public page for anyone else)."""
    if access.principal() is None:
        return redirect(url_for("web.public_carrier", carrier_id=carrier_id))
    return render_template("carrier.html", public=False, **carrier_page(carrier_id))


def carrier_page(carrier_id: int) -> dict[str, Any]:
    """A carrier as the caller may see it and, when it may read it fully, its milestone
    timeline, annual reports, alerts and audit history (each from the API's function)."""
    try:
        found = directory.find(carrier_id)
    except DomainError:
        abort(404)
    shown = directory.shown([found])[0]
    page: dict[str, Any] = {"carrier": shown, "details": details(shown), "full": False}
    who = access.principal()
    if not access.can_read_carrier_fully(who, found):
        return page
    directory.fully_readable(found.id)
    history = audit.carrier_history(found.id, {}).limit(HISTORY_ROWS)
    scoped_alerts = access.alert_scope(alerts.with_carrier(), who).where(Alert.carrier == found.id)
    page.update(
        full=True,
        timeline=timeline(found),
        reports=[reports.as_dict(row) for row in reports.of_carrier(found.id)],
        alerts=[
            alerts.as_dict(row)
            for row in scoped_alerts.order_by(Alert.status != "resolved", Alert.due_on.desc())
        ],
        history=[rosters.audit_view(audit.change_as_dict(row), who) for row in history],
        may_report=access.may_submit_report(who, found),
    )
    return page


def details(item: dict) -> list[tuple[str, Any]]:
    """``(label, value)`` of each field of a shown carrier, as the export's columns label and
    format them; a field the caller may not read is not in ``item``, so not shown."""
    return [
        (column.header, column.cell(item))
        for column in spreadsheets.CARRIER_COLUMNS
        if column.field in item and column.key not in ("id", "name", "type", "level", "status")
    ]


def timeline(carrier: Carrier) -> list[dict[str, Any]]:
    """The carrier's milestones in the order they happened (voided ones struck through), each
    with the level it moved the carrier from and to, when it did."""
    level = carrier.initial_level
    entries = []
    for row in milestones.history(carrier.id):
        entry = milestones.as_dict(row)
        if not row.voided and row.level and row.level != level:
            entry["level_change"] = (level, row.level)
            level = row.level
        entries.append(entry)
    return entries


# --- the calendar feed ----------------------------------------------------------------------


@bp.route("/feed-key", methods=["GET", "POST"])
@signed_in()
def feed_key():
    """The signed-in person's calendar feed: a key made here (shown once) goes in the feed
    URL, since calendar clients send no cookie and no header (see ``/api/v1/me/feed-key``)."""
    who = access.principal()
    carrier_id = request.args.get("carrier_id", type=int)
    made = None
    if request.method == "POST":
        made = tokens.issue_feed_key(who)
    return render_template(
        "feed_key.html",
        made=made,
        active=who.feed_key_hash is not None,
        holds_token=access.holds_active_token(who),
        carrier_id=carrier_id,
    )
