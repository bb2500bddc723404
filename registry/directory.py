"""The carriers this caller may see: the one read path of the registry.

Every read of carriers — the list, one carrier, the stats, deadlines, exports, pages and
rosters — goes through here, so that scope (which carriers), fields (which of their fields)
and the point-in-time variant (``as_of``) are decided in one place:

* :func:`visible` — the carriers the caller may see at all, narrowed by the list filters;
* :func:`sort` — ordered by the list's sort keys, as the caller may sort on them;
* :func:`shown` — carriers as the caller may read them (public fields only where it may not
  read them fully);
* :func:`page_as_of` / :func:`stats` — the same questions on a past day.
"""

from __future__ import annotations

from collections import Counter

import peewee as pw

from registry import access, carriers, timeline
from registry.db import apply_sort
from registry.models import Carrier
from registry.vocabulary import CARRIER_STATUSES, CARRIER_TYPES, LEVELS

#: The sort keys of a carrier list, each mapped to its column.
SORT_COLUMNS = {
    name: getattr(Carrier, name)
    for name in (
        "name",
        "type",
        "level",
        "status",
        "town",
        "established_on",
        "accredited_on",
        "valid_until",
        "next_evaluation_on",
        "next_report_due_on",
        "created_at",
        "updated_at",
    )
}
#: Groups come in vocabulary order (levels high to low), towns by name.
GROUP_ORDER = {
    "type": lambda value: (list(CARRIER_TYPES).index(value), ""),
    "level": lambda value: (LEVELS.index(value), ""),
    "status": lambda value: (list(CARRIER_STATUSES).index(value), ""),
    "town": lambda value: (0, value or ""),
}
#: Filters on dates that only a full reader of a carrier may see.
DATE_FILTERS = {
    "evaluation_due_before": Carrier.next_evaluation_on,
    "report_due_before": Carrier.next_report_due_on,
}


def visible(args: dict, skip=frozenset()) -> pw.ModelSelect:
    """The carriers the caller may see, narrowed by the list filters (except ``skip``).

    Filters on non-public dates match only carriers the caller may read fully, so that the
    public directory never reveals them (and its totals agree with what it shows).
    """
    who = access.principal()
    query = access.carrier_scope(carriers.with_host(), who)
    query = carriers.filter_carriers(query, args, skip=skip | DATE_FILTERS.keys())
    for name, column in DATE_FILTERS.items():
        if name in args and name not in skip and args[name] is not None:
            query = query.where(access.readable_column(column, who) <= args[name])
    return query


def sort_columns() -> dict:
    """The sort keys, each as the caller may sort on it (hidden values sort as null)."""
    who = access.principal()
    return {name: access.readable_column(column, who) for name, column in SORT_COLUMNS.items()}


def sort(query: pw.ModelSelect, keys: str | None) -> pw.ModelSelect:
    """``query`` ordered by the list's ``sort`` parameter (by name by default)."""
    return apply_sort(query, keys, sort_columns(), Carrier.name)


def shown(rows: list[Carrier]) -> list[dict]:
    """Carriers as the caller may see them: public fields only where it may not read fully."""
    full = access.full_read_ids(access.principal(), rows)
    items = carriers.present(rows, full)
    return [item if item["id"] in full else access.public_view(item) for item in items]


def as_of(args: dict) -> list[timeline.PastCarrier]:
    """The visible carriers as they stood on ``args["as_of"]``, filtered and sorted on that
    day's state (see registry.timeline)."""
    query = visible(args, skip=carriers.LIFECYCLE_FILTERS)
    return timeline.carriers_on(query, args["as_of"], args, args.get("sort"))


def shown_as_of(pasts: list[timeline.PastCarrier], day) -> list[dict]:
    """A page of past carriers as the caller may see them, with that day's lifecycle fields."""
    by_id = {past.id: past for past in pasts}
    items = shown(carriers.load_many(list(by_id)))
    return [timeline.overlay(item, by_id[item["id"]], day) for item in items]


def stats(args: dict) -> dict:
    """``{"total", "groups"}`` of the visible carriers grouped by ``args["group_by"]``
    (the list filters and ``as_of`` apply)."""
    keys = args["group_by"].split(",")
    if "as_of" in args:
        counts = Counter(
            tuple(timeline.value_of(past, key) for key in keys) for past in as_of(args)
        )
        groups = [
            {**dict(zip(keys, group, strict=True)), "count": count}
            for group, count in counts.items()
        ]
    else:
        columns = [getattr(Carrier, key) for key in keys]
        query = (
            visible(args)
            .select(*columns, pw.fn.COUNT(Carrier.id).alias("count"))
            .group_by(*columns)
            .dicts()
        )
        groups = [{**{key: row[key] for key in keys}, "count": row["count"]} for row in query]
    groups.sort(key=lambda group: tuple(GROUP_ORDER[key](group[key]) for key in keys))
    return {"total": sum(group["count"] for group in groups), "groups": groups}
