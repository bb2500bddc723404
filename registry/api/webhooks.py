"""/webhooks: outbound notification subscriptions, their delivery log, redelivery and ping."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from registry import access, delivery, webhooks
from registry.api.common import (
    check_if_match,
    error_responses,
    etag_of,
    etag_protected,
    paginate,
    read_with_etag,
)
from registry.db import apply_sort
from registry.models import OutboxEvent, Webhook, WebhookDelivery
from schemas.common import update_schema
from schemas.webhooks import (
    WebhookDeliveryQueryArgsSchema,
    WebhookDeliverySchema,
    WebhookQueryArgsSchema,
    WebhookSchema,
)

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/v1/webhooks",
    description="Outbound notifications (bureau admin only): events of SPEC §7 POSTed to "
    "subscribed URLs, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, "
    "`webhook-signature`), retried with exponential back-off, logged.",
)

ETAG = "w"
SORTS = {
    name: getattr(Webhook, name) for name in ("created_at", "updated_at", "url", "description")
}
LIST_HEADERS = {
    "X-Total-Count": {"description": "Items in all pages", "schema": {"type": "integer"}},
    "Link": {"description": "RFC 8288 first/prev/next/last", "schema": {"type": "string"}},
}


def get_webhook(webhook_id: int) -> Webhook:
    """The subscription (bureau admin only; 404 when there is none)."""
    access.require_webhook_admin()
    webhook = Webhook.get_or_none(Webhook.id == webhook_id)
    if webhook is None:
        abort(404, message=f"No webhook {webhook_id}.")
    return webhook


def get_delivery(webhook_id: int, delivery_id: int) -> WebhookDelivery:
    webhook = get_webhook(webhook_id)
    found = delivery.deliveries_of(webhook.id).where(WebhookDelivery.id == delivery_id).first()
    if found is None:
        abort(404, message=f"Webhook {webhook_id} has no delivery {delivery_id}.")
    return found


@blp.route("")
class Webhooks(MethodView):
    @blp.arguments(WebhookQueryArgsSchema, location="query")
    @blp.response(200, WebhookSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401, 403)
    def get(self, args):
        """List webhook subscriptions (bureau admin)"""
        access.require_webhook_admin()
        query = Webhook.select()
        if "active" in args:
            query = query.where(Webhook.active == args["active"])
        if "format" in args:
            query = query.where(Webhook.format == args["format"])
        if "q" in args:
            query = query.where(
                Webhook.description.contains(args["q"]) | Webhook.url.contains(args["q"])
            )
        query = apply_sort(query, args.get("sort"), SORTS, Webhook.id)
        rows, headers = paginate(query, args["page"], args["page_size"])
        return [webhooks.as_dict(row) for row in rows], 200, headers

    @blp.arguments(WebhookSchema)
    @blp.response(201, WebhookSchema)
    @error_responses(blp, 400, 401, 403, 413)
    def post(self, data):
        """Subscribe a URL to events (bureau admin); the secret is shown once, here"""
        access.require_webhook_admin()
        webhook, secret = webhooks.create_webhook(data)
        return (
            {**webhooks.as_dict(webhook), "secret": secret},
            201,
            {"ETag": etag_of(ETAG, webhook), "Location": f"{blp.url_prefix}/{webhook.id}"},
        )


@blp.route("/<id:webhook_id>")
class WebhooksById(MethodView):
    @blp.response(200, WebhookSchema)
    @error_responses(blp, 401, 403, 404)
    def get(self, webhook_id):
        """Get one webhook subscription (with its ETag; never its secret)"""
        webhook = get_webhook(webhook_id)
        return read_with_etag(ETAG, webhook, lambda: webhooks.as_dict(webhook))

    @blp.arguments(update_schema(WebhookSchema))
    @blp.response(200, WebhookSchema)
    @etag_protected(blp)
    @error_responses(blp, 400, 401, 403, 404, 413)
    def patch(self, data, webhook_id):
        """Edit a webhook subscription, re-activate it or rotate its secret (If-Match required)"""
        webhook = get_webhook(webhook_id)
        check_if_match(ETAG, webhook)
        webhook, secret = webhooks.update_webhook(webhook, data)
        body = webhooks.as_dict(webhook)
        if secret:
            body["secret"] = secret
        return body, 200, {"ETag": etag_of(ETAG, webhook)}

    @blp.response(204)
    @etag_protected(blp)
    @error_responses(blp, 401, 403, 404)
    def delete(self, webhook_id):
        """Delete a webhook subscription with its delivery log (If-Match required)"""
        webhook = get_webhook(webhook_id)
        check_if_match(ETAG, webhook)
        webhooks.delete_webhook(webhook)
        return None


@blp.route("/<id:webhook_id>/deliveries")
class Deliveries(MethodView):
    @blp.arguments(WebhookDeliveryQueryArgsSchema, location="query")
    @blp.response(200, WebhookDeliverySchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401, 403, 404)
    def get(self, args, webhook_id):
        """The delivery log of a subscription, newest first, each with its attempts"""
        webhook = get_webhook(webhook_id)
        query = delivery.deliveries_of(webhook.id)
        if "success" in args:
            if args["success"]:
                query = query.where(WebhookDelivery.status == delivery.SUCCEEDED)
            else:
                query = query.where(WebhookDelivery.status != delivery.SUCCEEDED)
        if "status" in args:
            query = query.where(WebhookDelivery.status == args["status"])
        if "event_type" in args:
            query = query.where(OutboxEvent.type == args["event_type"])
        rows, headers = paginate(query, args["page"], args["page_size"])
        return delivery.present(rows), 200, headers


@blp.route("/<id:webhook_id>/deliveries/<id:delivery_id>")
class DeliveriesById(MethodView):
    @blp.response(200, WebhookDeliverySchema)
    @error_responses(blp, 401, 403, 404)
    def get(self, webhook_id, delivery_id):
        """One delivery of a subscription with every attempt"""
        return delivery.present([get_delivery(webhook_id, delivery_id)])[0]


@blp.route("/<id:webhook_id>/deliveries/<id:delivery_id>/redeliver")
class Redeliver(MethodView):
    @blp.response(202, WebhookDeliverySchema)
    @error_responses(blp, 401, 403, 404, 409)
    def post(self, webhook_id, delivery_id):
        """Queue a new round of attempts of a finished delivery (sent by the next delivery run)"""
        found = get_delivery(webhook_id, delivery_id)
        delivery.redeliver(found)
        return delivery.present([get_delivery(webhook_id, delivery_id)])[0], 202


@blp.route("/<id:webhook_id>/ping")
class Ping(MethodView):
    @blp.response(200, WebhookDeliverySchema)
    @error_responses(blp, 401, 403, 404)
    def post(self, webhook_id):
        """Send a webhook.ping test event now and answer its logged outcome

        One attempt, made during the request (also to an inactive subscription) and never
        retried. The answer is 200 whatever the receiver said: see the delivery's `status`
        and its attempt's `status_code` and `error`.
        """
        webhook = get_webhook(webhook_id)
        sent = delivery.ping(webhook)
        return delivery.present([get_delivery(webhook.id, sent.id)])[0]
