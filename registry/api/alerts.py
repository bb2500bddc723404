"""/alerts: the deadlines flagged by the scan, and their acknowledgement."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort

from registry import access, alerts, names
from registry.api.common import LIST_HEADERS, ResourceBlueprint, error_responses
from registry.db import apply_sort
from registry.models import Alert, Carrier, CarrierPartner
from registry.vocabulary import levels_at_least
from schemas.alerts import AlertQueryArgsSchema, AlertSchema

blp = ResourceBlueprint(
    "alerts",
    __name__,
    url_prefix="/api/v1/alerts",
    description="Alerts written by the daily scan (SPEC §3.3): evaluations and annual reports "
    "coming due or overdue, accreditations expiring or expired, rectification deadlines. "
    "The bureau sees every alert, operators and partners those of their own carriers. "
    "Resolved alerts stay readable.",
    etag_prefix="a",
)

SORTS = {
    "due_on": Alert.due_on,
    "days_left": Alert.days_left,
    "opened_on": Alert.opened_on,
    "resolved_on": Alert.resolved_on,
    "kind": Alert.kind,
    "status": Alert.status,
    "carrier_id": Alert.carrier,
}


def visible_alerts():
    """The alerts the caller may read (401 without a token)."""
    return access.alert_scope(alerts.with_carrier(), access.require_reader())


def get_visible(alert_id: int) -> Alert:
    alert = visible_alerts().where(Alert.id == alert_id).first()
    if alert is None:
        abort(404, message=f"No alert {alert_id}.")
    return alert


def listed(args: dict):
    """The alerts the caller may read, narrowed by the list's filters and sorted by its
    ``sort`` (soonest due first by default): the list and the export."""
    query = visible_alerts()
    for name, column in (("status", Alert.status), ("kind", Alert.kind)):
        if name in args:
            query = query.where(column == args[name])
    if "carrier_id" in args:
        query = query.where(Alert.carrier == args["carrier_id"])
    if "organization_id" in args:
        org = args["organization_id"]
        partnered = CarrierPartner.select(CarrierPartner.carrier).where(
            CarrierPartner.organization == org
        )
        query = query.where((Carrier.host_organization == org) | Carrier.id.in_(partnered))
    if "type" in args:
        query = query.where(Carrier.type == args["type"])
    if "level" in args:
        query = query.where(Carrier.level == args["level"])
    if "level_min" in args:
        query = query.where(Carrier.level.in_(levels_at_least(args["level_min"])))
    if "due_before" in args:
        query = query.where(Alert.due_on <= args["due_before"])
    if "due_after" in args:
        query = query.where(Alert.due_on >= args["due_after"])
    if "q" in args:
        query = query.where(names.matches(Carrier.search_key, args["q"]))
    return apply_sort(query, args.get("sort"), SORTS, Alert.due_on)


@blp.route("")
class Alerts(MethodView):
    @blp.arguments(AlertQueryArgsSchema, location="query")
    @blp.response(200, AlertSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401)
    def get(self, args):
        """List alerts, filtered, sorted (soonest due first by default) and paginated"""
        query = listed(args)
        return blp.page(query, args, lambda rows: [alerts.as_dict(alert) for alert in rows])


@blp.route("/<id:alert_id>")
class AlertsById(MethodView):
    @blp.read_response(AlertSchema)
    @error_responses(blp, 401, 404)
    def get(self, alert_id):
        """Get one alert (with its ETag)"""
        alert = get_visible(alert_id)
        return blp.read(alert, lambda: alerts.as_dict(alert))


@blp.route("/<id:alert_id>/acknowledge")
class AlertAcknowledge(MethodView):
    @blp.write_response(AlertSchema)
    @error_responses(blp, 401, 403, 404, 409)
    def post(self, alert_id):
        """Acknowledge an open alert (bureau admin, or an operator of the carrier)

        The alert stays unresolved until the scan finds its condition gone. Acknowledging an
        alert that is already acknowledged or resolved is a 409.
        """
        alert = get_visible(alert_id)
        access.require_alert_acknowledger(alert.carrier)
        alert = alerts.acknowledge(alert)
        return blp.written(alerts.as_dict(alert), alert)
