"""Recording writes: one audit record per write and the events of SPEC §7, both written in the
transaction of the change so that a rolled-back write leaves neither."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import g, has_request_context

from registry.db import utcnow
from registry.models import Change, OutboxEvent


def current_actor() -> str:
    """The acting principal's name, or the system actor outside a request."""
    if has_request_context():
        actor = getattr(g, "actor", None)
        if actor:
            return actor
    return "system"


def current_token_name() -> str | None:
    """The name of the token the request was made with (None outside a request)."""
    token = getattr(g, "token", None) if has_request_context() else None
    return token.name if token is not None else None


def current_request_id() -> str | None:
    return getattr(g, "request_id", None) if has_request_context() else None


def record_change(
    action: str,
    object_type: str,
    object_id: int | None,
    before: dict | None,
    after: dict | None,
    actor: str | None = None,
    carrier_id: int | None = None,
) -> Change:
    """Append one audit record (call inside the write's transaction).

    ``actor`` defaults to the request's principal, and the token it used is recorded with
    it. ``carrier_id`` links a record about another object (an annual report, an alert…)
    to its carrier's history; carrier records link to themselves.
    """
    if carrier_id is None and object_type == "carrier":
        carrier_id = object_id
    return Change.create(
        at=utcnow(),
        actor=actor or current_actor(),
        token_name=current_token_name(),
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=jsonable(before),
        after=jsonable(after),
        request_id=current_request_id(),
        carrier_id=carrier_id,
    )


def new_event_uid() -> str:
    """A fresh event id: ``evt_`` + 32 hex digits, the stable ``webhook-id`` of the event."""
    return f"evt_{uuid.uuid4().hex}"


def emit(event_type: str, data: dict[str, Any], carrier_id: int | None = None) -> OutboxEvent:
    """Write an event to the outbox (call inside the write's transaction, so that a rolled-back
    write leaves no event). The delivery job fans it out to the matching webhooks later.

    ``carrier_id`` names the carrier the event concerns (None for an event about no carrier):
    webhook filters on type and organisation match on it, never on the payload's shape.
    """
    return OutboxEvent.create(
        uid=new_event_uid(),
        type=event_type,
        occurred_at=utcnow(),
        data=jsonable(data),
        carrier_id=carrier_id,
    )


def jsonable(value: Any) -> Any:
    """Dates and datetimes as ISO strings, recursively, so the record is plain JSON."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value
