"""/webhooks: outbound notification subscriptions, their delivery log, redelivery and ping."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort

from registry import access, delivery, webhooks
from registry.api.common import (
    NO_STORE,
    NO_STORE_HEADER,
    ResourceBlueprint,
    error_responses,
    sort_columns,
)
from registry.models import OutboxEvent, Webhook, WebhookDelivery
from schemas.common import update_schema
from schemas.webhooks import (
    WebhookDeliveryQueryArgsSchema,
    WebhookDeliverySchema,
    WebhookQueryArgsSchema,
    WebhookSchema,
)

blp = ResourceBlueprint(
    "webhooks",
    __name__,
    url_prefix="/api/v1/webhooks",
    description="Outbound notifications (bureau admin only): events of SPEC §7 POSTed to "
    "subscribed URLs, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, "
    "`webhook-signature`), retried with exponential back-off, logged.",
    etag_prefix="w",
)

SORTS = sort_columns(WebhookQueryArgsSchema, Webhook)


def get_webhook(webhook_id: int) -> Webhook:
    """The subscription (bureau admin only; 404 when there is none)."""
    access.require_webhook_admin()
    return blp.get_or_404(Webhook.select(), webhook_id, "webhook")


def get_delivery(webhook_id: int, delivery_id: int) -> WebhookDelivery:
    webhook = get_webhook(webhook_id)
    found = delivery.deliveries_of(webhook.id).where(WebhookDelivery.id == delivery_id).first()
    if found is None:
        abort(404, message=f"Webhook {webhook_id} has no delivery {delivery_id}.")
    return found


@blp.route("")
class Webhooks(MethodView):
    @blp.listing(WebhookQueryArgsSchema, WebhookSchema(many=True), 401, 403)
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
        return blp.page(
            query, args, lambda rows: [webhooks.as_dict(row) for row in rows], SORTS, Webhook.id
        )

    @blp.arguments(WebhookSchema)
    @blp.write_response(WebhookSchema, 201, headers=NO_STORE_HEADER)
    @error_responses(blp, 400, 401, 403, 413)
    def post(self, data):
        """Subscribe a URL to events (bureau admin); the secret is shown once, here"""
        access.require_webhook_admin()
        webhook, secret = webhooks.create_webhook(data)
        return blp.created(
            {**webhooks.as_dict(webhook), "secret": secret}, webhook, headers=NO_STORE
        )


@blp.route("/<id:webhook_id>")
class WebhooksById(MethodView):
    @blp.read_response(WebhookSchema)
    @error_responses(blp, 401, 403, 404)
    def get(self, webhook_id):
        """Get one webhook subscription (with its ETag; never its secret)"""
        webhook = get_webhook(webhook_id)
        return blp.read(webhook, lambda: webhooks.as_dict(webhook))

    @blp.arguments(update_schema(WebhookSchema))
    @blp.write_response(WebhookSchema, headers=NO_STORE_HEADER)
    @blp.etag_protected
    @error_responses(blp, 400, 401, 403, 404, 413)
    def patch(self, data, webhook_id):
        """Edit a webhook subscription, re-activate it or rotate its secret (If-Match required)"""
        get_webhook(webhook_id)
        expected = blp.expected_version(webhook_id)
        webhook, secret = webhooks.update_webhook(webhook_id, data, expected)
        if secret:
            return blp.written(
                {**webhooks.as_dict(webhook), "secret": secret}, webhook, headers=NO_STORE
            )
        return blp.written(webhooks.as_dict(webhook), webhook)

    @blp.response(204)
    @blp.etag_protected
    @error_responses(blp, 401, 403, 404)
    def delete(self, webhook_id):
        """Delete a webhook subscription with its delivery log (If-Match required)"""
        get_webhook(webhook_id)
        webhooks.delete_webhook(webhook_id, blp.expected_version(webhook_id))
        return None


@blp.route("/<id:webhook_id>/deliveries")
class Deliveries(MethodView):
    @blp.listing(WebhookDeliveryQueryArgsSchema, WebhookDeliverySchema(many=True), 401, 403, 404)
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
        return blp.page(query, args, delivery.present)


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
