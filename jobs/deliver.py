"""The webhook delivery job (SPEC §7): fan out new outbox events and send what is due.

The scheduler runs :func:`deliver_pending` every ``REGISTRY_DELIVER_SECONDS``; ``registry
deliver`` runs it once. Concurrent runs (several processes) never send the same delivery at
the same time: see :mod:`registry.delivery` for the claims.
"""

from __future__ import annotations

import datetime as dt

from registry import delivery
from registry.db import database


def deliver_pending(now: dt.datetime | None = None, limit: int | None = None) -> dict[str, int]:
    """One delivery run inside the app context; returns its counts (dispatched, queued, sent,
    succeeded, retrying, failed, disabled). Opens a connection when none is open."""
    opened = database.is_closed()
    if opened:
        database.connect()
    try:
        return delivery.deliver_pending(now=now, limit=limit)
    finally:
        if opened:
            database.close()
