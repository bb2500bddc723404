"""The weekly digest: the week's new alerts and those still open, as one ``digest.weekly``
event for the notification channels (webhooks, chat robots)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from peewee import fn

from registry import alerts, audit, clock
from registry.db import write_transaction
from registry.models import Alert

#: Alerts listed per part of the digest; the counts always cover them all.
MAX_LISTED = 200


def run() -> dict[str, Any]:
    """The scheduled job: the digest of the week ending today."""
    return digest(clock.today())


def digest(day: dt.date) -> dict[str, Any]:
    """Emit the digest of the seven days ending on ``day``; return its counts.

    ``new``: alerts opened in those seven days (whatever their status now); ``open``: every
    alert not yet resolved (open or acknowledged), soonest due first.
    """
    week_start = day - dt.timedelta(days=6)
    new_query = alerts.with_carrier().where(
        (Alert.opened_on >= week_start) & (Alert.opened_on <= day)
    )
    open_query = alerts.with_carrier().where(Alert.status != "resolved")
    with write_transaction():
        new = _part(new_query.order_by(Alert.opened_on.desc(), Alert.id.desc()))
        still_open = _part(open_query.order_by(Alert.due_on, Alert.id))
        audit.emit(
            "digest.weekly",
            {
                "week_start": week_start,
                "week_end": day,
                "new": new,
                "open": still_open,
            },
        )
    return {"as_of": day.isoformat(), "new": new["count"], "open": still_open["count"]}


def _part(query) -> dict[str, Any]:
    by_kind = dict(
        query.clone()
        .select(Alert.kind, fn.COUNT(Alert.id))
        .group_by(Alert.kind)
        .order_by(Alert.kind)
        .tuples()
    )
    listed = [alerts.as_dict(alert) for alert in query.limit(MAX_LISTED)]
    total = sum(by_kind.values())
    return {
        "count": total,
        "by_kind": by_kind,
        "alerts": listed,
        "truncated": total > len(listed),
    }
