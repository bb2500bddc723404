"""The clock: "today" and every conversion between stored time and the configured zone.

Timestamps are stored as naive UTC; dates ("today", a day's end) are in the configured time
zone (SPEC §4, ``REGISTRY_TIMEZONE``). This is the only module that converts between them.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from registry.config import default


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone(name: str | None = None) -> ZoneInfo:
    """The time zone called ``name``, by default the configured one (the setting's default
    outside an app)."""
    if name is None:
        name = current_app.config["TIMEZONE"] if has_app_context() else default("TIMEZONE")
    return _zone(name)


def utcnow() -> dt.datetime:
    """Naive UTC now: every timestamp column stores naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def today() -> dt.date:
    """Today in the configured time zone (SPEC §4)."""
    return dt.datetime.now(zone()).date()


def to_local(value: dt.datetime, zone_name: str | None = None) -> dt.datetime:
    """A stored naive-UTC timestamp (or an aware one) as an aware datetime in the configured
    zone (or the zone called ``zone_name``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(zone(zone_name))


def local_isoformat(value: dt.datetime | None, zone_name: str | None = None) -> str | None:
    """A stored naive-UTC timestamp as ISO 8601 in the configured zone (or ``zone_name``),
    with its offset, to the second."""
    return None if value is None else to_local(value, zone_name).isoformat(timespec="seconds")


def local_date(value: dt.datetime) -> dt.date:
    """The day, in the configured zone, of a stored naive-UTC timestamp."""
    return to_local(value).date()


def to_utc(value: dt.datetime) -> dt.datetime:
    """A datetime as stored: naive UTC (a naive one is taken to be in the configured zone).

    Raises OverflowError for a time that cannot be represented in UTC.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone())
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def end_of_day(day: dt.date) -> dt.datetime:
    """The naive-UTC instant at which ``day`` ends in the configured time zone."""
    return to_utc(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))
