"""Recording writes: one audit record per write and the events of SPEC §7, both written in the
transaction of the change so that a rolled-back write leaves neither."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import peewee as pw
from flask import g, has_request_context

from registry import clock, db
from registry.db import utcnow
from registry.models import Change, OutboxEvent


def current_actor() -> str:
    """The acting principal's name, or the system actor outside a request."""
    if has_request_context():
        actor = getattr(g, "actor", None)
        if actor:
            return actor
    return "system"


def current_actor_id() -> int | None:
    """The acting principal's id (None outside a request or anonymous): names are not unique."""
    who = getattr(g, "principal", None) if has_request_context() else None
    return who.id if who is not None else None


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

    Secrets are redacted from both snapshots here, before anything is stored
    (:func:`redact_secrets`), so no reader of the trail ever sees them.

    ``actor`` defaults to the request's principal, recorded by name and id (SPEC §6), and
    the token it used is recorded with it; another explicit ``actor`` (the CLI, a job) has
    no id. ``carrier_id`` links a record about another object (an annual report, an
    alert…) to its carrier's history; carrier records link to themselves.
    """
    return Change.create(
        **change_row(action, object_type, object_id, before, after, actor, carrier_id)
    )


def change_row(
    action: str,
    object_type: str,
    object_id: int | None,
    before: dict | None,
    after: dict | None,
    actor: str | None = None,
    carrier_id: int | None = None,
) -> dict[str, Any]:
    """The columns of the audit record :func:`record_change` writes (for
    :func:`record_changes`, which writes many at once)."""
    if carrier_id is None and object_type == "carrier":
        carrier_id = object_id
    return {
        "at": utcnow(),
        "actor": actor or current_actor(),
        "actor_id": current_actor_id() if actor in (None, current_actor()) else None,
        "token_name": current_token_name(),
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "before": redact_secrets(jsonable(before)),
        "after": redact_secrets(jsonable(after)),
        "request_id": current_request_id(),
        "carrier_id": carrier_id,
    }


def record_changes(rows: list[dict[str, Any]]) -> None:
    """Append many audit records at once (rows made by :func:`change_row`), in order, without
    peewee's per-row SQL building (a tenth of a 10,000-row import)."""
    db.insert_rows(Change, rows)


def new_event_uid() -> str:
    """A fresh event id: ``evt_`` + 32 hex digits, the stable ``webhook-id`` of the event."""
    return f"evt_{uuid.uuid4().hex}"


def emit(event_type: str, data: dict[str, Any], carrier_id: int | None = None) -> OutboxEvent:
    """Write an event to the outbox (call inside the write's transaction, so that a rolled-back
    write leaves no event). The delivery job fans it out to the matching webhooks later.

    ``carrier_id`` names the carrier the event concerns (None for an event about no carrier):
    webhook filters on type and organisation match on it, never on the payload's shape.
    """
    return OutboxEvent.create(**event_row(event_type, data, carrier_id))


def event_row(event_type: str, data: dict[str, Any], carrier_id: int | None = None) -> dict:
    """The columns of the event :func:`emit` writes (for :func:`emit_many`)."""
    return {
        "uid": new_event_uid(),
        "type": event_type,
        "occurred_at": utcnow(),
        "data": jsonable(data),
        "carrier_id": carrier_id,
    }


def emit_many(rows: list[dict[str, Any]]) -> None:
    """Write many events to the outbox at once (rows made by :func:`event_row`), in order, as
    :func:`emit` would one by one (the scan emits thousands on its worst day, an import one
    per carrier)."""
    db.insert_rows(OutboxEvent, rows)


#: Values :func:`jsonable` returns as they are (by exact type).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Dates and datetimes as ISO strings, recursively, so the record is plain JSON; a
    timestamp (stored naive UTC) in the configured zone with its offset (SPEC §4)."""
    # Plain values (most of them) are kept without a call: an import snapshots thousands.
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dict):
        return {k: v if type(v) in _PLAIN else jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [v if type(v) in _PLAIN else jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return clock.local_isoformat(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# --- secrets never reach the trail -------------------------------------------------------

REDACTED = "REDACTED"
#: Snapshot fields that hold a secret itself (webhook signing and robot secrets, tokens,
#: calendar feed keys, and their hashes).
SECRET_FIELDS = frozenset(
    {"secret", "robot_secret", "token", "token_hash", "feed_key", "feed_key_hash", "password"}
)
#: Query parameters that carry a credential in a URL: the chat robots' ``access_token``
#: (DingTalk) and ``key`` (WeCom, and the calendar feed key), and the usual other names.
SECRET_URL_PARAMETERS = frozenset(
    {
        "access_token",
        "key",
        "token",
        "secret",
        "sign",
        "signature",
        "api_key",
        "apikey",
        "sendkey",
        "password",
    }
)


def redact_url(url: str) -> str:
    """``url`` with its credentials replaced by ``REDACTED``: the password of any user-info
    and the value of every query parameter named in :data:`SECRET_URL_PARAMETERS`."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return REDACTED  # not a URL we can take apart: keep none of it
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:{REDACTED}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name.lower() in SECRET_URL_PARAMETERS for name, _ in pairs):
            query = urlencode(
                [
                    (name, REDACTED if name.lower() in SECRET_URL_PARAMETERS else value)
                    for name, value in pairs
                ]
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_secrets(value: Any, name: str = "") -> Any:
    """A snapshot with its secrets redacted, at any depth: fields named in
    :data:`SECRET_FIELDS` (when set) and credentials inside URL fields (``url``, ``…_url``)."""
    if isinstance(value, dict):
        return {
            key: item
            if type(item) in _PLAIN and not _watched(str(key))
            else redact_secrets(item, str(key))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_secrets(item, name) for item in value]
    if name.lower() in SECRET_FIELDS and value not in (None, ""):
        return REDACTED
    if isinstance(value, str) and (name == "url" or name.endswith("_url")):
        return redact_url(value)
    return value


@functools.lru_cache(maxsize=1024)  # bounded: keys of attributes are the clients'
def _watched(name: str) -> bool:
    """Whether a field of this name may hold a secret (itself, or in a URL)."""
    return name.lower() in SECRET_FIELDS or name == "url" or name.endswith("_url")


# --- reading the audit trail ---------------------------------------------------------------


def change_as_dict(change: Change) -> dict:
    """An audit record as the API shows it, with the top-level fields it changed (all of
    them for a creation or a deletion)."""
    before, after = change.before or {}, change.after or {}
    if change.before is None or change.after is None:
        changed = sorted(before or after)
    else:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return {
        "id": change.id,
        "at": change.at,
        "actor": change.actor,
        "actor_id": change.actor_id,
        "token_name": change.token_name,
        "action": change.action,
        "object_type": change.object_type,
        "object_id": change.object_id,
        "carrier_id": change.carrier_id,
        "before": change.before,
        "after": change.after,
        "changed": changed,
        "request_id": change.request_id,
        "created_at": change.created_at,
        "updated_at": change.updated_at,
    }


def filter_changes(query: pw.ModelSelect, args: dict) -> pw.ModelSelect:
    """``query`` narrowed by the audit filters, in the order asked (newest first by default)."""
    for name in ("object_type", "object_id", "actor", "actor_id", "action", "request_id"):
        if name in args:
            query = query.where(getattr(Change, name) == args[name])
    if "time_from" in args:
        query = query.where(Change.at >= args["time_from"][0])
    if "time_to" in args:
        bound, inclusive = args["time_to"]
        query = query.where(Change.at <= bound if inclusive else Change.at < bound)
    if args.get("sort") == "at":
        return query.order_by(Change.at, Change.id)
    return query.order_by(Change.at.desc(), Change.id.desc())


def carrier_history(carrier_id: int, args: dict) -> pw.ModelSelect:
    """One carrier's audit records (``/carriers/{id}/history``), narrowed and ordered by
    ``args`` as :func:`filter_changes` does (newest first by default)."""
    return filter_changes(Change.select().where(Change.carrier_id == carrier_id), args)
