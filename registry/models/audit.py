"""The audit trail and the outbox of events, both written in the transaction of the change."""

from __future__ import annotations

import peewee as pw

from registry.db import BaseModel, utcnow
from registry.models.fields import JSONField


class Change(BaseModel):
    """One audit record: append-only, never altered through the API."""

    at = pw.DateTimeField(default=utcnow, index=True)
    #: The principal's name (``system``, ``cli``… outside a request).
    actor = pw.CharField(max_length=200, index=True)
    #: The principal's id (null outside a request): two principals may share a name.
    actor_id = pw.IntegerField(null=True, index=True)
    #: The name of the token the principal acted with (null outside a request).
    token_name = pw.CharField(max_length=200, null=True)
    action = pw.CharField(max_length=20, index=True)
    object_type = pw.CharField(max_length=40)
    object_id = pw.IntegerField(null=True)
    before = JSONField(null=True)
    after = JSONField(null=True)
    request_id = pw.CharField(max_length=64, null=True, index=True)
    #: The carrier the change belongs to (itself for carrier records; the carrier of an
    #: annual report, alert…), so that ``/carriers/{id}/history`` is one indexed lookup.
    carrier_id = pw.IntegerField(null=True, index=True)

    class Meta:
        indexes = ((("object_type", "object_id"), False),)


class OutboxEvent(BaseModel):
    """An event (SPEC §7) waiting to be delivered; ``uid`` is the stable ``webhook-id``."""

    uid = pw.CharField(max_length=40, unique=True)
    type = pw.CharField(max_length=40, index=True)
    occurred_at = pw.DateTimeField(default=utcnow, index=True)
    data = JSONField()
    #: Set once the delivery job has fanned the event out to the subscriptions.
    dispatched_at = pw.DateTimeField(null=True, index=True)
    #: The carrier the event concerns (null for one about no carrier, e.g. the digest),
    #: written by :func:`registry.audit.emit`; webhook filters match on it. Not a foreign
    #: key: the event outlives a deleted carrier.
    carrier_id = pw.IntegerField(null=True)
