"""Webhook subscriptions (SPEC §5 ``/webhooks``, §7): create, edit, delete, disable, and which
events reach which subscription.

A subscription's ``events`` are event types, prefixes such as ``alert.*``, or ``*``. Its
optional ``filter`` (``type``: carrier types, ``organization_id``: host or partner
organisations) narrows it to events about matching carriers; an event about no carrier
(``digest.weekly``, ``webhook.disabled``) never reaches a filtered subscription, so that a
park's system subscribed to its own carriers does not receive city-wide summaries.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from flask import current_app

from registry import audit, egress, writes
from registry.db import locked, utcnow, write_transaction
from registry.errors import DomainError
from registry.models import Carrier, CarrierPartner, Organization, OutboxEvent, Webhook

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
#: Random bytes in a secret (Standard Webhooks asks for 24 to 64).
SECRET_BYTES = 32
SYSTEM_ACTOR = "system (webhook delivery)"


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes (the HMAC key)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: its base64 part, decoded."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def as_dict(webhook: Webhook) -> dict[str, Any]:
    """A subscription as the API shows it: never its secrets."""
    return {
        "id": webhook.id,
        "url": webhook.url,
        "description": webhook.description,
        "events": list(webhook.events or []),
        "format": webhook.format,
        "has_robot_secret": bool(webhook.robot_secret),
        "filter": dict(webhook.filter or {}),
        "active": webhook.active,
        "failing_since": webhook.failing_since,
        "disabled_at": webhook.disabled_at,
        "disabled_reason": webhook.disabled_reason,
        "created_by": webhook.created_by,
        "created_at": webhook.created_at,
        "updated_at": webhook.updated_at,
    }


def _record(webhook: Webhook) -> dict:
    return audit.jsonable(as_dict(webhook))


# --- writing ------------------------------------------------------------------------------


def _invalid(field: str, message: str) -> DomainError:
    return DomainError(422, "The request body has invalid fields.", {field: [message]})


def _check(webhook: Webhook) -> None:
    """The rules across fields, on the subscription as it would be stored."""
    if webhook.robot_secret and webhook.format != "dingtalk":
        raise _invalid("robot_secret", "Only a dingtalk subscription takes a robot_secret.")
    wanted = set((webhook.filter or {}).get("organization_id") or [])
    if wanted:
        found = {
            row.id
            for row in Organization.select(Organization.id).where(Organization.id.in_(list(wanted)))
        }
        missing = sorted(wanted - found)
        if missing:
            raise _invalid("filter", f"No organisation {', '.join(map(str, missing))}.")


def _check_url(url: str) -> None:
    try:
        egress.check_target(url, current_app.config["WEBHOOK_ALLOW_PRIVATE"])
    except egress.TargetRefused as error:
        raise _invalid("url", str(error)) from error


def _clean_filter(value: dict | None) -> dict:
    value = value or {}
    return {key: list(dict.fromkeys(items)) for key, items in value.items() if items}


def create_webhook(data: dict, actor: str | None = None) -> tuple[Webhook, str]:
    """Create a subscription; return it with its secret (shown once, stored for signing)."""
    _check_url(data["url"])
    with write_transaction():
        webhook = Webhook(
            url=data["url"],
            description=data.get("description"),
            events=list(dict.fromkeys(data.get("events") or ["*"])),
            format=data.get("format") or "standard",
            robot_secret=data.get("robot_secret"),
            filter=_clean_filter(data.get("filter")),
            active=data.get("active", True),
            secret=new_secret(),
            created_by=actor or audit.current_actor(),
        )
        _check(webhook)
        webhook.save()
        audit.record_change("create", "webhook", webhook.id, None, _record(webhook), actor=actor)
    return webhook, webhook.secret


def update_webhook(
    webhook_id: int, data: dict, expected: Collection[int] | None = writes.ANY_VERSION
) -> tuple[Webhook, str | None]:
    """Edit a subscription as stored now, if it is at an ``expected`` version (412); return it
    and the new secret when ``rotate_secret`` asked for one.

    Re-activating a subscription clears its failure record, so it gets a fresh
    ``WEBHOOK_DISABLE_AFTER_HOURS`` before it can be disabled again.
    """
    if "url" in data:
        _check_url(data["url"])
    with writes.guarded(Webhook, webhook_id, expected, "webhook") as edit:
        webhook = edit.row
        before = _record(webhook)
        for name in ("url", "description", "format", "robot_secret"):
            if name in data:
                setattr(webhook, name, data[name])
        if "events" in data:
            webhook.events = list(dict.fromkeys(data["events"] or ["*"]))
        if "filter" in data:
            webhook.filter = _clean_filter(data["filter"])
        if "active" in data:
            if data["active"] and not webhook.active:
                webhook.failing_since = None
                webhook.disabled_at = None
                webhook.disabled_reason = None
            webhook.active = data["active"]
        secret = None
        if data.get("rotate_secret"):
            secret = webhook.secret = new_secret()
        _check(webhook)
        edit.save()
        after = _record(webhook)
        if secret:
            after["secret_rotated"] = True
        audit.record_change("update", "webhook", webhook.id, before, after)
    return webhook, secret


def delete_webhook(webhook_id: int, expected: Collection[int] | None = writes.ANY_VERSION):
    """Delete a subscription with its deliveries and their log."""
    with writes.guarded(Webhook, webhook_id, expected, "webhook") as edit:
        before = _record(edit.row)
        edit.row.delete_instance(recursive=True)
        audit.record_change("delete", "webhook", before["id"], before, None)


def disable_for_failures(webhook_id: int, now, hours: int) -> bool:
    """Disable a subscription that has failed for ``hours`` and alert its owner.

    "Alerted" means: the subscription shows ``disabled_at`` and ``disabled_reason`` (naming
    its owner), a ``webhook.disabled`` event goes to the other subscriptions (a bureau chat
    group, say), the audit trail records the change by the system, and a warning is logged.
    Returns whether it was disabled now (False when already inactive).
    """
    with write_transaction():
        webhook = locked(Webhook.select().where(Webhook.id == webhook_id)).first()
        # Read again under the lock: a success in another run may have ended the streak.
        if (
            webhook is None
            or not webhook.active
            or webhook.failing_since is None
            or now - webhook.failing_since < dt.timedelta(hours=hours)
        ):
            return False
        before = _record(webhook)
        since = audit.jsonable(webhook.failing_since)
        webhook.active = False
        webhook.disabled_at = now
        webhook.disabled_reason = (
            f"Every delivery failed since {since} UTC (over {hours} hours); disabled "
            f"automatically. Owner: {webhook.created_by}. Fix the receiver, then set "
            "active to true."
        )
        webhook.version += 1
        webhook.updated_at = utcnow()
        webhook.save()
        audit.record_change(
            "update", "webhook", webhook.id, before, _record(webhook), actor=SYSTEM_ACTOR
        )
        audit.emit(
            "webhook.disabled",
            {
                "webhook": {
                    "id": webhook.id,
                    "description": webhook.description,
                    "owner": webhook.created_by,
                    "failing_since": since,
                    "disabled_at": audit.jsonable(now),
                    "reason": webhook.disabled_reason,
                }
            },
        )
    log.warning(
        "Webhook %s (owner %s) disabled: failing since %s UTC.",
        webhook.id,
        webhook.created_by,
        since,
    )
    return True


# --- which events reach which subscription ---------------------------------------------------


def subscribed(patterns: list[str], event_type: str) -> bool:
    """Whether ``event_type`` matches one of ``patterns`` (``*``, ``alert.*``, exact)."""
    for pattern in patterns or ["*"]:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


@dataclass(frozen=True)
class CarrierFacts:
    """What subscription filters look at: the carrier's type and its organisations."""

    type: str | None
    organization_ids: frozenset[int]


def passes_filter(filter_: dict, facts: CarrierFacts | None) -> bool:
    """Whether an event about the carrier ``facts`` (None: about no carrier) passes."""
    types = filter_.get("type") or []
    orgs = filter_.get("organization_id") or []
    if not types and not orgs:
        return True
    if facts is None:
        return False
    if types and facts.type not in types:
        return False
    return not orgs or bool(facts.organization_ids & set(orgs))


def _facts_from_snapshot(carrier: dict) -> CarrierFacts:
    orgs = {carrier.get("host_organization_id")}
    for partner in carrier.get("partners") or []:
        if isinstance(partner, dict):
            orgs.add(partner.get("organization_id"))
    return CarrierFacts(carrier.get("type"), frozenset(org for org in orgs if org is not None))


def carrier_reference(event: OutboxEvent) -> dict | int | None:
    """The carrier an event is about, from its ``carrier_id`` column (None: about no carrier).

    When the event carries that carrier's snapshot (``data.carrier``), the snapshot is used:
    it is the carrier as the event saw it (type and organisations at that time). Otherwise
    the id is looked up when the event is dispatched.
    """
    if event.carrier_id is None:
        return None
    data = event.data if isinstance(event.data, dict) else {}
    carrier = data.get("carrier")
    if isinstance(carrier, dict) and carrier.get("id") == event.carrier_id and "type" in carrier:
        return carrier
    return event.carrier_id


def carrier_facts(references: list[dict | int | None]) -> list[CarrierFacts | None]:
    """Facts for each reference; ids are looked up in two queries for the whole batch."""
    ids = {ref for ref in references if isinstance(ref, int)}
    looked_up: dict[int, CarrierFacts] = {}
    if ids:
        orgs: dict[int, set[int]] = {}
        types: dict[int, str] = {}
        for carrier_id, carrier_type, host in (
            Carrier.select(Carrier.id, Carrier.type, Carrier.host_organization)
            .where(Carrier.id.in_(list(ids)))
            .tuples()
        ):
            types[carrier_id] = carrier_type
            orgs[carrier_id] = {host}
        for carrier_id, org in (
            CarrierPartner.select(CarrierPartner.carrier, CarrierPartner.organization)
            .where(CarrierPartner.carrier.in_(list(types)))
            .tuples()
        ):
            orgs[carrier_id].add(org)
        looked_up = {cid: CarrierFacts(types[cid], frozenset(orgs[cid])) for cid in types}
    result: list[CarrierFacts | None] = []
    for ref in references:
        if isinstance(ref, dict):
            result.append(_facts_from_snapshot(ref))
        elif isinstance(ref, int):
            # A deleted carrier matches no filter.
            result.append(looked_up.get(ref))
        else:
            result.append(None)
    return result
