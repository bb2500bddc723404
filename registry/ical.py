"""Deadlines as an RFC 5545 calendar: all-day events with stable UIDs and one reminder
(VALARM) per warning window of the carrier's evaluation policy."""

from __future__ import annotations

import datetime as dt

from icalendar import Alarm, Calendar, Event

from registry.deadlines import Deadline

PRODID = "-//Carrier Registry//Deadlines//ZH"


def render(deadlines: list[Deadline], *, name: str, timezone: str) -> bytes:
    """The calendar of ``deadlines`` (UTF-8 bytes)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", timezone)
    for deadline in deadlines:
        calendar.add_component(_event(deadline))
    return calendar.to_ical()


def _event(deadline: Deadline) -> Event:
    carrier = deadline.carrier
    summary = f"{deadline.rule.label}：{carrier.name}"
    if deadline.report_year is not None:
        summary = f"{deadline.report_year}年{summary}"
    event = Event()
    event.add("uid", deadline.uid)
    # The carrier's last change: the same data gives the same feed, byte for byte.
    event.add("dtstamp", carrier.updated_at.replace(tzinfo=dt.UTC))
    event.add("dtstart", deadline.due_on)
    event.add("dtend", deadline.due_on + dt.timedelta(days=1))
    event.add("summary", summary)
    event.add(
        "description",
        f"{deadline.rule.name} · carrier {carrier.id} ({carrier.type}, {carrier.level}, "
        f"{carrier.status})",
    )
    event.add("categories", [deadline.rule.name])
    event.add("transp", "TRANSPARENT")
    for days in deadline.warn_days:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"{summary}（还有 {days} 天）")
        alarm.add("trigger", dt.timedelta(days=-days))
        event.add_component(alarm)
    return event
