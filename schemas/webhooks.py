"""Webhook subscription and delivery-log schemas."""

from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

from registry import egress
from registry.vocabulary import CARRIER_TYPES, DELIVERY_STATUSES, EVENT_TYPES, WEBHOOK_FORMATS
from schemas.common import (
    Documented,
    Flag,
    Id,
    ListArgsSchema,
    ResourceSchema,
    Timestamp,
    no_control_characters,
    one_of,
    sort_field,
)

EVENT_PREFIXES = sorted({code.split(".", 1)[0] for code in EVENT_TYPES})


def _check_url(value: str) -> None:
    """http or https with a host (the address checks need the configuration: the domain)."""
    no_control_characters(value)
    if any(char.isspace() for char in value):
        raise ma.ValidationError("A URL contains no spaces.")
    try:
        egress.split_target(value)
    except egress.TargetRefused as error:
        raise ma.ValidationError(str(error)) from error


#: An http(s) URL without spaces or control characters. Which hosts may receive is
#: configuration (:mod:`registry.egress`): a refused host is a 422 the pattern cannot say.
validate_url = Documented(_check_url, pattern=r"^[hH][tT][tT][pP][sS]?://[^\s\x00-\x1f\x7f]+$")


def _check_event_pattern(value: str) -> None:
    """``*``, a known event type, or a known prefix followed by ``.*``."""
    if value == "*" or value in EVENT_TYPES:
        return
    if value.endswith(".*") and value[:-2] in EVENT_PREFIXES:
        return
    raise ma.ValidationError(
        f"Not an event type: {value}. Use *, one of {', '.join(EVENT_TYPES)}, or a prefix "
        f"such as {EVENT_PREFIXES[0]}.*."
    )


validate_event_pattern = Documented(
    _check_event_pattern,
    pattern="^(?:\\*|"
    + "|".join(re.escape(code) for code in [*EVENT_TYPES, *(f"{p}.*" for p in EVENT_PREFIXES)])
    + ")$",
)


class WebhookFilterSchema(ma.Schema):
    """Only events about carriers of these types and/or organisations (host or partner)."""

    type = fields.List(
        fields.String(validate=one_of(CARRIER_TYPES, "carrier type")),
        validate=validate.Length(max=len(CARRIER_TYPES)),
        metadata={"description": "Carrier types; empty or absent means any type."},
    )
    organization_id = fields.List(
        Id(),
        validate=validate.Length(max=100),
        metadata={
            "description": "Organisations hosting or partnering the carrier; empty or absent "
            "means any organisation."
        },
    )


class WebhookSchema(ResourceSchema):
    """A webhook subscription. Its secret is shown once, in the creation response."""

    url = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=2000), validate_url],
        metadata={
            "description": "Where events are POSTed: http or https. Loopback, private, "
            "link-local and other non-public addresses are refused (422) unless the service "
            "runs with REGISTRY_WEBHOOK_ALLOW_PRIVATE=1; checked again at every delivery."
        },
    )
    description = fields.String(
        allow_none=True, validate=[validate.Length(max=200), no_control_characters]
    )
    events = fields.List(
        fields.String(validate=validate_event_pattern),
        validate=validate.Length(min=1, max=30),
        metadata={
            "description": "Event types to receive: exact types (" + ", ".join(EVENT_TYPES) + "), "
            "prefixes such as `alert.*`, or `*` for all (the default)."
        },
    )
    format = fields.String(
        validate=one_of(WEBHOOK_FORMATS, "webhook format"),
        metadata={
            "description": "`standard` (default): the signed JSON event. `dingtalk` / `wecom`: "
            'a group-robot text message `{"msgtype": "text", "text": {"content": …}}` '
            "in short Chinese, still with the signature headers."
        },
    )
    robot_secret = fields.String(
        load_only=True,
        allow_none=True,
        validate=[validate.Length(min=1, max=200), no_control_characters],
        metadata={
            "description": "dingtalk only: the robot's signing secret (SEC…); each call then "
            "carries `timestamp` and `sign` in its URL. Write-only; null removes it."
        },
    )
    has_robot_secret = fields.Boolean(dump_only=True)
    filter = fields.Nested(
        WebhookFilterSchema,
        allow_none=True,
        metadata={
            "description": "Only events about matching carriers. A filtered subscription "
            "receives no event that is about no carrier (such as digest.weekly)."
        },
    )
    active = Flag(
        metadata={
            "description": "Inactive subscriptions receive nothing (events meanwhile are not "
            "queued for them). Setting true again clears an automatic disabling."
        }
    )
    rotate_secret = Flag(
        load_only=True,
        metadata={
            "description": "PATCH only: replace the secret; the response shows the new one "
            "once. (A creation always generates a secret.)"
        },
    )
    secret = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "`whsec_` + base64 of 32 random bytes; the HMAC key is the decoded "
            "bytes. Only in the creation response (and after rotate_secret): store it then."
        },
    )
    failing_since = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Start of the current run of failed attempts, else null."},
    )
    disabled_at = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "When the service disabled it for failing too long."},
    )
    disabled_reason = fields.String(dump_only=True, allow_none=True)
    created_by = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The owner: who created the subscription."},
    )


class WebhookQueryArgsSchema(ListArgsSchema):
    """Filters of the subscription list (``q`` searches descriptions and URLs)."""

    q = fields.String(
        validate=[validate.Length(min=1, max=100), no_control_characters],
        metadata={"description": "Search in descriptions and URLs (case-insensitive)."},
    )
    active = fields.Boolean(
        metadata={"description": "true: active subscriptions only; false: inactive ones."}
    )
    format = fields.String(
        validate=one_of(WEBHOOK_FORMATS, "webhook format"),
        metadata={"description": "Only subscriptions of this format."},
    )
    sort = sort_field(["created_at", "updated_at", "url", "description"])


class WebhookEventSchema(ma.Schema):
    """The event a delivery carries."""

    id = fields.String(metadata={"description": "The stable event id, sent as `webhook-id`."})
    type = fields.String()
    occurred_at = Timestamp()


class WebhookAttemptSchema(ma.Schema):
    """One HTTP attempt of a delivery."""

    number = fields.Integer(metadata={"description": "1 for the first attempt, and so on."})
    at = Timestamp()
    success = fields.Boolean()
    status_code = fields.Integer(
        allow_none=True, metadata={"description": "Null when no answer came."}
    )
    duration_ms = fields.Integer()
    error = fields.String(
        allow_none=True,
        metadata={"description": "HTTP status, timeout, connection error, refused address…"},
    )
    response = fields.String(
        allow_none=True,
        metadata={"description": "The receiver's answer, truncated to 1,000 characters."},
    )


class WebhookDeliverySchema(ma.Schema):
    """One event sent (or to send) to one subscription, with every attempt."""

    id = fields.Integer()
    webhook_id = fields.Integer()
    event = fields.Nested(WebhookEventSchema)
    status = fields.String(metadata={"description": "pending, succeeded or failed."})
    attempt_count = fields.Integer()
    next_attempt_at = Timestamp(
        allow_none=True, metadata={"description": "When a pending delivery is tried next."}
    )
    delivered_at = Timestamp(allow_none=True)
    last_attempt_at = Timestamp(allow_none=True)
    attempts = fields.List(fields.Nested(WebhookAttemptSchema))
    created_at = Timestamp()
    updated_at = Timestamp()


class WebhookDeliveryQueryArgsSchema(ListArgsSchema):
    """Filters of the delivery log (newest first)."""

    class Meta:
        exclude = ("q",)

    success = fields.Boolean(
        metadata={"description": "true: delivered; false: not (yet) delivered."}
    )
    status = fields.String(
        validate=one_of(DELIVERY_STATUSES, "delivery status"),
        metadata={"description": "pending (waiting or retrying), succeeded or failed."},
    )
    event_type = fields.String(
        validate=validate.Regexp(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", error="Not an event type."),
        metadata={"description": "Only deliveries of this event type, e.g. alert.opened."},
    )
