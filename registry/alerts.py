"""Alerts (SPEC §3.3): how they are shown, listed and acknowledged.

The scan job (``jobs/scan.py``) opens, updates and resolves them; people only read and
acknowledge them.
"""

from __future__ import annotations

from typing import Any

import peewee as pw

from registry import audit
from registry.db import locked, utcnow, write_transaction
from registry.errors import DomainError
from registry.models import Alert, Carrier

#: Columns of the carrier summary embedded in every alert.
CARRIER_SUMMARY_COLUMNS = (
    Carrier.id,
    Carrier.name,
    Carrier.type,
    Carrier.level,
    Carrier.status,
    Carrier.host_organization,
)


def carrier_summary(carrier: Carrier) -> dict[str, Any]:
    """The short carrier description embedded in alerts and their events."""
    return {
        "id": carrier.id,
        "name": carrier.name,
        "type": carrier.type,
        "level": carrier.level,
        "status": carrier.status,
        "host_organization_id": carrier.host_organization_id,
    }


def as_dict(alert: Alert, carrier: Carrier | None = None) -> dict[str, Any]:
    """An alert as the API and its events show it."""
    carrier = carrier if carrier is not None else alert.carrier
    return {
        "id": alert.id,
        "carrier_id": alert.carrier_id,
        "carrier": carrier_summary(carrier),
        "kind": alert.kind,
        "due_on": alert.due_on,
        "days_left": alert.days_left,
        "status": alert.status,
        "opened_on": alert.opened_on,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by,
        "resolved_on": alert.resolved_on,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
    }


def with_carrier() -> pw.ModelSelect:
    """Alerts joined with the carrier summary (one query for a page)."""
    return Alert.select(Alert, *CARRIER_SUMMARY_COLUMNS).join(Carrier)


def load(alert_id: int) -> Alert | None:
    return with_carrier().where(Alert.id == alert_id).first()


def acknowledge(alert: Alert, actor: str | None = None) -> Alert:
    """Mark an alert acknowledged: it stays unresolved until the scan finds its condition gone.

    Acknowledging an acknowledged or resolved alert is a conflict (409): the first
    acknowledgement, with its time and actor, is what the record keeps.
    """
    actor = actor or audit.current_actor()
    with write_transaction():
        alert = locked(Alert.select().where(Alert.id == alert.id)).get()
        if alert.status != "open":
            raise DomainError(
                409, f"Alert {alert.id} is {alert.status}; only an open alert can be acknowledged."
            )
        before = audit.jsonable(as_dict(load(alert.id)))
        alert.status = "acknowledged"
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = actor
        alert.version += 1
        alert.updated_at = utcnow()
        alert.save()
        alert = load(alert.id)
        audit.record_change(
            "update", "alert", alert.id, before, audit.jsonable(as_dict(alert)), actor=actor
        )
    return alert
