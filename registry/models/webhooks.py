"""Outbound notifications: webhook subscriptions, one delivery per (subscription, event) and
the log of every attempt (SPEC §7)."""

from __future__ import annotations

import peewee as pw

from registry.db import BaseModel, utcnow
from registry.models.audit import OutboxEvent
from registry.models.fields import JSONField


class Webhook(BaseModel):
    """A subscription: where to POST which events, signed with ``secret``."""

    url = pw.TextField()
    description = pw.CharField(max_length=200, null=True)
    #: Event types (``carrier.updated``), prefixes (``alert.*``) or ``*`` for every event.
    events = JSONField(default=lambda: ["*"])
    #: ``standard`` (signed JSON event), ``dingtalk`` or ``wecom`` (chat-robot text message).
    format = pw.CharField(max_length=20, default="standard")
    #: Standard Webhooks secret ``whsec_<base64>``. Kept in clear: it is the HMAC key.
    secret = pw.CharField(max_length=100)
    #: DingTalk robot signing secret (``SEC…``), for the signed-URL variant; null when unused.
    robot_secret = pw.CharField(max_length=200, null=True)
    #: ``{"type": [...], "organization_id": [...]}``: only events about matching carriers.
    filter = JSONField(default=dict)
    active = pw.BooleanField(default=True, index=True)
    #: Start of the current run of failed attempts (null after any success).
    failing_since = pw.DateTimeField(null=True)
    disabled_at = pw.DateTimeField(null=True)
    disabled_reason = pw.TextField(null=True)
    #: The actor that created the subscription (its owner, told when it gets disabled).
    created_by = pw.CharField(max_length=200)
    version = pw.IntegerField(default=1)


class WebhookDelivery(BaseModel):
    """One event to send to one subscription, with its retry state.

    ``ordered`` deliveries (the fan-out of the outbox) go out strictly in id order per
    subscription; pings and manual redeliveries are sent out of band.
    """

    webhook = pw.ForeignKeyField(Webhook, backref="deliveries", on_delete="CASCADE")
    event = pw.ForeignKeyField(OutboxEvent, backref="deliveries", on_delete="CASCADE")
    #: ``pending``, ``succeeded`` or ``failed`` (attempts used up).
    status = pw.CharField(max_length=20, default="pending", index=True)
    ordered = pw.BooleanField(default=True)
    #: Attempts made in the current round (a redelivery starts a new round) and in all.
    attempts = pw.IntegerField(default=0)
    attempt_count = pw.IntegerField(default=0)
    #: Attempts allowed in this round; null means the configured number.
    max_attempts = pw.IntegerField(null=True)
    next_attempt_at = pw.DateTimeField(default=utcnow)
    #: The run sending it right now, and until when its claim holds (a crashed run's
    #: claim lapses and the delivery is sent again: at-least-once).
    claim_token = pw.CharField(max_length=32, null=True)
    claimed_until = pw.DateTimeField(null=True)
    delivered_at = pw.DateTimeField(null=True)
    last_attempt_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = (
            (("webhook", "event"), True),
            (("webhook", "status", "ordered", "id"), False),
        )


class WebhookAttempt(BaseModel):
    """One HTTP attempt of a delivery, as shown in the delivery log."""

    delivery = pw.ForeignKeyField(
        WebhookDelivery, backref="attempt_log", on_delete="CASCADE", index=True
    )
    number = pw.IntegerField()
    at = pw.DateTimeField()
    success = pw.BooleanField()
    status_code = pw.IntegerField(null=True)
    duration_ms = pw.IntegerField()
    error = pw.TextField(null=True)
    #: The start of the receiver's answer, truncated.
    response_body = pw.TextField(null=True)
