"""The carriers this caller may see: the one read path of the registry.

Every read of carriers — the list, one carrier, the stats, deadlines and calendar feeds,
the history, milestones and annual reports of one carrier, and (to come) exports, rosters
and pages — goes through here, so that scope (which carriers), fields (which of their
fields), filters, sort and the point-in-time variant (``as_of``) are decided in one place.

The API (``args`` are the list's query parameters as ``CarrierQueryArgsSchema`` loads them):

* :func:`visible` ``(args, skip=(), public=None)`` — SQL query of the carriers the caller
  may see at all, narrowed by the list filters (except ``skip``);
* :func:`page` ``(args, number, size)`` — one page of them with their hosts, and the total;
* :func:`sort` ``(query, keys)`` / :func:`sort_past` ``(pasts, keys)`` — ordered by the
  ``sort`` parameter, in SQL or on a past day's carriers;
* :func:`check_fields` ``(args, sort_keys)`` — the 403 for hidden filters and sorts (every
  function here that takes filters or sort keys calls it; a new reader of the list's
  parameters, e.g. an export, gets it by calling :func:`visible` and :func:`sort`);
* :func:`shown` ``(rows)`` — carriers as the caller may read them (API dicts: public fields
  only where it may not read a carrier fully);
* :func:`as_of_page` ``(args, page, page_size)`` / :func:`shown_as_of` ``(pasts, day)`` —
  the same list on the past day ``args["as_of"]``, a join with each carrier's stored period
  on that day (filtered, sorted and paged in SQL; see registry.timeline), and
  :func:`as_of` ``(args)`` all of it;
* :func:`stats` ``(args)`` — ``{"total", "groups"}``, with or without ``as_of``;
* :func:`listing` ``(args)`` — one page of the list as the caller may see it, and the total:
  what ``GET /carriers`` answers and the directory pages show;
* :func:`find` ``(carrier_id)`` / :func:`find_as_of` ``(carrier_id, day)`` — one carrier (404
  when the caller may not see it);
* :func:`fully_readable` ``(carrier_id)`` — one carrier whose non-public records (history,
  milestones, reports, deadlines) the caller reads: 401, 404 or 403 otherwise;
* :func:`search` ``(text, args=None)`` — the visible carriers matching ``text`` as people
  search (the API's ``q``; the pages' search box), sorted;
* :func:`readable` ``(args)`` — SQL query of the carriers the caller may read fully, narrowed
  by ``carrier_id``, ``organization_id`` and ``q`` (deadlines and calendar feeds).

The rules (SPEC §6, README "Access"):

* **Scope.** The bureau sees every carrier. Everyone sees the public directory: the carriers
  whose status is public (``access.PUBLIC_STATUSES``, i.e. accredited). Operators and
  partners also see their own carriers (``access.own_carrier_ids_query``). On a past day
  (``as_of``) a carrier that is not the caller's own is shown only when it is in today's
  public directory *and* its status on that day was public: an anonymous ``as_of`` never
  shows a past ``rectifying``, ``applying``… state.
* **Fields.** A carrier the caller may not read fully shows only
  ``access.PUBLIC_CARRIER_FIELDS``; the hidden fields are everything else.
* **Hidden filters and sorts are bureau-only.** Each filter and sort key names the fields it
  reads (:data:`FILTER_FIELDS`, :data:`SORT_KEYS`); one that reads a hidden field
  (:data:`HIDDEN_FILTERS`, :data:`HIDDEN_SORTS`) is refused with 403 naming the parameter
  and the field for every caller but the bureau, with or without ``as_of``, on the list and
  the stats alike. An operator or partner sees public carriers of others next to its own, so
  a hidden-field filter would tell those apart; it reads its own dates through
  ``/deadlines`` instead. So no answer a non-bureau caller can get depends on a hidden value.
* **Search.** ``q`` (:func:`search`) matches the stored search key of ``registry.names``: the
  carrier's name and its host organisation's name, both public fields, so a search tells a
  caller nothing it could not read; pinyin and initials are those names spelled otherwise.
* **Sort.** Names sort in pinyin order (``Carrier.sort_key``, :mod:`registry.names`);
  ``level`` and ``status`` sort in vocabulary rank (national > provincial > municipal >
  county first; statuses in the order of SPEC §2.3), other keys by value, nulls last in both
  directions, then by id — in SQL and in the ``as_of`` list alike.
"""

from __future__ import annotations

import functools
from collections import Counter

import peewee as pw

from registry import access, carriers, names, timeline
from registry.db import apply_sort, select_once
from registry.errors import DomainError, with_article
from registry.models import Carrier, CarrierCount, CarrierPeriod
from registry.vocabulary import CARRIER_STATUSES, CARRIER_TYPES, LEVELS

#: Values ranked by their vocabulary order, not their codes, when sorting and grouping.
RANKS: dict[str, list[str]] = {"level": list(LEVELS), "status": list(CARRIER_STATUSES)}
#: The sort keys of a carrier list (each the carrier field it sorts by).
SORT_KEYS = (
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
#: The filters of a carrier list, each with the carrier fields it reads.
FILTER_FIELDS: dict[str, tuple[str, ...]] = {
    "type": ("type",),
    "level": ("level",),
    "level_min": ("level",),
    "status": ("status",),
    "town": ("town",),
    "organization_id": ("host_organization_id", "partners"),
    "tag": ("tags",),
    # The search key holds the carrier's name and its host's (registry.names): both public.
    "q": ("name", "host_organization"),
    "accredited_from": ("accredited_on",),
    "accredited_to": ("accredited_on",),
    "evaluation_due_before": ("next_evaluation_on",),
    "report_due_before": ("next_report_due_on",),
}
#: Fields the stats may group by.
GROUP_KEYS = ("type", "level", "status", "town")
#: Filters and sort keys that read a non-public field: the bureau's only.
HIDDEN_FILTERS = frozenset(
    name
    for name, fields in FILTER_FIELDS.items()
    if not set(fields) <= access.PUBLIC_CARRIER_FIELDS
)
HIDDEN_SORTS = frozenset(key for key in SORT_KEYS if key not in access.PUBLIC_CARRIER_FIELDS)
#: Groups come in vocabulary order (types as listed, levels high to low), towns by name.
GROUP_RANKS: dict[str, list[str]] = {**RANKS, "type": list(CARRIER_TYPES)}


# --- what the caller may ask --------------------------------------------------------------


def _sort_keys(keys: str | None) -> list[tuple[str, bool]]:
    """``(field, descending)`` of each key of a ``sort`` parameter (by name by default)."""
    return [(key.lstrip("-"), key.startswith("-")) for key in (keys or "name").split(",") if key]


def check_fields(args: dict, sort_keys: str | None = None) -> None:
    """Refuse (403, naming the parameter and the field) a filter or sort on a hidden field,
    unless the caller is the bureau (see the module docstring for why)."""
    if access.is_bureau(access.principal()):
        return
    errors: dict[str, list[str]] = {}
    for name in sorted(HIDDEN_FILTERS):
        if args.get(name) is not None:
            hidden = ", ".join(FILTER_FIELDS[name])
            errors[name] = [f"Filtering by {hidden} is for the bureau only: it is not public."]
    hidden_sorts = [key for key, _ in _sort_keys(sort_keys) if key in HIDDEN_SORTS]
    if hidden_sorts:
        errors["sort"] = [
            f"Sorting by {', '.join(hidden_sorts)} is for the bureau only: it is not public."
        ]
    if errors:
        who = access.principal()
        caller = with_article(who.role, True) if who is not None else "A caller without a token"
        fields = sorted(
            {f for name in errors if name != "sort" for f in FILTER_FIELDS[name]}
            | set(hidden_sorts)
        )
        raise DomainError(403, f"{caller} may not filter or sort by {', '.join(fields)}.", errors)


# --- the current registry ----------------------------------------------------------------


def visible(args: dict, skip=frozenset(), public: pw.Expression | None = None) -> pw.ModelSelect:
    """The carriers the caller may see, narrowed by the list filters (except ``skip``); a
    carrier not the caller's own is visible when it meets ``public`` (by default: its status
    is public). It reads the carrier table alone, so that counts, stats and a page's ids are
    answered from its indexes (:func:`page` then reads that page's rows with their hosts)."""
    check_fields(args, args.get("sort"))
    query = access.carrier_scope(Carrier.select(), access.principal(), public)
    return carriers.filter_carriers(query, args, skip=skip)


def page(args: dict, number: int, size: int) -> tuple[list[Carrier], int]:
    """Page ``number`` of the visible carriers in the list's order, with their hosts, and
    how many there are in all (``X-Total-Count``: from the counts by group, or a COUNT on
    the carrier table; no row loaded).

    Two reads: the page's ids in order, from the carrier table and its indexes alone, then
    those carriers with what the list shows of them (``carriers.load_presented``, a
    statement built once): sorting only ids, instead of whole rows, and building the SQL of
    one column instead of twenty-four, was a quarter of a page's CPU. A carrier deleted
    between the two is left out of the page. The rows are not whole: never save them."""
    query = visible(args)
    counted = _counted(args, [])
    total = counted[0]["count"] if counted is not None else query.count()
    shape = _shape(args)
    if shape is None:
        ordered = sort(query, args.get("sort")).select(Carrier.id).paginate(number, size)
        ids = [carrier_id for (carrier_id,) in ordered.tuples()]
    else:
        bound, fixed = shape

        def ordered_ids(*values) -> pw.ModelSelect:
            *filters, limit, offset = values
            shaped = visible({**fixed, **dict(zip(bound, filters, strict=True))})
            return sort(shaped, args.get("sort")).select(Carrier.id).limit(limit).offset(offset)

        values = [args[name] for name in bound]
        name = f"page ids {_shape_name(shape)} sort={args.get('sort')!r}"
        rows = select_once(
            name, ordered_ids, *values, size, (number - 1) * size, plan_each_time=True
        )
        ids = [carrier_id for (carrier_id,) in rows]
    return carriers.load_presented(ids), total


#: The filters a statement built once binds as they are given (compared with ``=``), see
#: :func:`_shape`.
BOUND_FILTERS = ("type", "level", "status", "town")


def _shape(args: dict) -> tuple[tuple[str, ...], dict] | None:
    """Whether the SQL of this question about today's registry can be built once per
    process and shape (``db.select_once``): ``(bound, fixed)``, the filters bound as values
    (:data:`BOUND_FILTERS` given) and the other arguments, fixed in the statement's text
    (``level_min`` becomes its list of levels); None when it is built each time — for an
    operator or partner (its scope names its organisations), a past day, or any other
    filter (their values are converted or searched first). The shape (see
    :func:`_shape_name`) names everything that decides the statement's text; rendering
    the SQL of the list's ids and total was a tenth of a listed page's CPU."""
    who = access.principal()
    if who is not None and not access.is_bureau(who):
        return None
    asked = [name for name in FILTER_FIELDS if args.get(name) is not None]
    if "as_of" in args or set(asked) - set(BOUND_FILTERS) - {"level_min"}:
        return None
    bound = tuple(name for name in asked if name in BOUND_FILTERS)
    return bound, {key: value for key, value in args.items() if key not in bound}


def _shape_name(shape: tuple[tuple[str, ...], dict]) -> str:
    """What decides the text of a statement of :func:`_shape`: the caller's class (the
    bureau sees all, anyone else the public directory), the bound filters, ``level_min``."""
    bound, fixed = shape
    caller = "bureau" if access.principal() is not None else "public"
    return f"{caller} {','.join(bound)} level_min={fixed.get('level_min')!r}"


def _ranked(column: pw.Field, codes: list[str]) -> pw.Case:
    """``column`` as its rank in ``codes`` (unknown codes last)."""
    return pw.Case(column, [(code, rank) for rank, code in enumerate(codes)], len(codes))


#: The SQL expression each sort key orders by (names in pinyin order, by their sort key).
SORT_COLUMNS = {
    key: _ranked(getattr(Carrier, key), RANKS[key]) if key in RANKS else getattr(Carrier, key)
    for key in SORT_KEYS
} | {"name": Carrier.sort_key}


def sort(query: pw.ModelSelect, keys: str | None) -> pw.ModelSelect:
    """``query`` ordered by the list's ``sort`` parameter (by name by default)."""
    check_fields({}, keys)
    return apply_sort(query, keys, SORT_COLUMNS, Carrier.sort_key)


def search(text: str, args: dict | None = None) -> pw.ModelSelect:
    """The carriers the caller may see whose name or host's name matches ``text`` as people
    type it (any part, pinyin, pinyin initials, either width of brackets, any case: see
    ``registry.names``), narrowed by the list filters in ``args``, in the list's ``sort``
    order (pinyin order of names by default). The API's ``q`` is this search."""
    args = {**(args or {}), "q": text}
    return sort(visible(args), args.get("sort"))


def shown(rows: list[Carrier]) -> list[dict]:
    """Carriers as the caller may see them: public fields only where it may not read fully."""
    full = access.full_read_ids(access.principal(), rows)
    items = carriers.present(rows, full)
    return [item if item["id"] in full else access.public_view(item) for item in items]


def listing(args: dict) -> tuple[list[dict], int]:
    """Page ``args["page"]`` of the carrier list as the caller may see it (``as_of`` too),
    and how many carriers the whole list has: the list of the API and of the pages."""
    if "as_of" in args:
        pasts, total = as_of_page(args, args["page"], args["page_size"])
        return shown_as_of(pasts, args["as_of"]), total
    rows, total = page(args, args["page"], args["page_size"])
    return shown(rows), total


def find(carrier_id: int) -> Carrier:
    """One carrier the caller may see, with its host; 404 when it may not see it at all
    (saying 403 would reveal that a non-public carrier exists)."""
    carrier = carriers.load(carrier_id)
    if carrier is None or not access.can_see_carrier(access.principal(), carrier):
        raise DomainError(404, f"No carrier {carrier_id}.")
    return carrier


# --- fully readable carriers -------------------------------------------------------------


def fully_readable(carrier_id: int) -> Carrier:
    """A carrier whose non-public records (history, milestones, annual reports, deadlines)
    the caller reads: 401 anonymous, 404 when it may not see the carrier at all, 403 when it
    may read only its public fields."""
    who = access.require_reader()
    carrier = find(carrier_id)
    if not access.can_read_carrier_fully(who, carrier):
        raise DomainError(
            403,
            f"{with_article(who.role, True)} may read only the public fields of carrier "
            f"{carrier_id}.",
        )
    return carrier


def readable(args: dict) -> pw.ModelSelect:
    """The carriers the caller may read fully (401 anonymous), narrowed by ``carrier_id``,
    ``organization_id`` and ``q``: whose deadlines it reads."""
    query = access.full_read_scope(Carrier.select(), access.require_reader())
    if args.get("carrier_id") is not None:
        query = query.where(Carrier.id == args["carrier_id"])
    wanted = {key: args[key] for key in ("organization_id", "q") if key in args}
    return carriers.filter_carriers(query, wanted)


# --- a past day --------------------------------------------------------------------------


def _public_on_the_day(pasts: list[timeline.PastCarrier]) -> list[timeline.PastCarrier]:
    """Of carriers on a past day, those the caller may see on that day: its own, and the
    others when their status on that day was public."""
    who = access.principal()
    if access.is_bureau(who):
        return pasts
    own = access.full_read_ids(who, pasts)
    return [p for p in pasts if p.id in own or p.state.status in access.PUBLIC_STATUSES]


def _sort_value(past: timeline.PastCarrier, key: str):
    value = timeline.value_of(past, key)
    if key == "name":
        return names.sort_key(value)
    if value is not None and key in RANKS:
        return RANKS[key].index(value) if value in RANKS[key] else len(RANKS[key])
    return value


def sort_past(pasts: list[timeline.PastCarrier], keys: str | None) -> list:
    """Carriers on a past day ordered as :func:`sort` orders the list (nulls last in both
    directions, then by id)."""
    check_fields({}, keys)
    wanted = _sort_keys(keys)

    def compare(a: timeline.PastCarrier, b: timeline.PastCarrier) -> int:
        for key, descending in wanted:
            x, y = _sort_value(a, key), _sort_value(b, key)
            if x == y:
                continue
            if x is None or y is None:
                return 1 if x is None else -1
            order = -1 if x < y else 1
            return -order if descending else order
        return (a.id > b.id) - (a.id < b.id)

    return sorted(pasts, key=functools.cmp_to_key(compare))


def _past_scope(args: dict) -> pw.ModelSelect:
    """The carriers the caller may see on the day ``args["as_of"]``, narrowed by the list's
    filters that are not about the lifecycle (to be joined with the day's period, see
    ``timeline.on_day``): a carrier not its own must be public today and on that day."""
    public = Carrier.status.in_(sorted(access.PUBLIC_STATUSES)) & CarrierPeriod.status.in_(
        sorted(access.PUBLIC_STATUSES)
    )
    return visible(args, skip=carriers.LIFECYCLE_FILTERS, public=public)


#: The SQL each sort key orders by on a past day: the state from the day's period.
PAST_SORT_COLUMNS = {
    **SORT_COLUMNS,
    **{key: _ranked(getattr(CarrierPeriod, key), RANKS[key]) for key in RANKS},
    "accredited_on": CarrierPeriod.accredited_on,
}


def as_of(args: dict) -> list[timeline.PastCarrier]:
    """Every carrier the caller may see on the day ``args["as_of"]``, filtered and sorted
    on that day's state (see registry.timeline): in SQL on the day's stored periods, unless
    a filter or sort reads a derived date (then replayed in Python). :func:`as_of_page` for
    one page."""
    if timeline.needs_dates(args, args.get("sort")):
        pasts = timeline.carriers_on(_past_scope(args), args["as_of"], args)
        return sort_past(pasts, args.get("sort"))
    rows = list(_past_sorted(_past_rows(args), args.get("sort")).namedtuples())
    return timeline.with_dates(rows, args["as_of"])


def as_of_page(args: dict, page: int, page_size: int) -> tuple[list[timeline.PastCarrier], int]:
    """One page of :func:`as_of` and the total: filtered, counted, sorted and paged in SQL
    on the day's stored periods (three queries), unless a filter or sort reads a derived
    date (then :func:`as_of`)."""
    start = (page - 1) * page_size
    if timeline.needs_dates(args, args.get("sort")):
        pasts = as_of(args)
        return pasts[start : start + page_size], len(pasts)
    query = _past_rows(args)
    total = query.order_by().count()
    rows = list(_past_sorted(query, args.get("sort")).paginate(page, page_size).namedtuples())
    return timeline.with_dates(rows, args["as_of"]), total


def _past_rows(args: dict) -> pw.ModelSelect:
    """The visible carriers joined with their period on the day ``args["as_of"]``."""
    return timeline.on_day(_past_scope(args), args["as_of"], args)


def _past_sorted(query: pw.ModelSelect, keys: str | None) -> pw.ModelSelect:
    """Carriers on a past day in the list's order (:func:`sort` with the day's state)."""
    check_fields({}, keys)
    return apply_sort(timeline.rows_on(query), keys, PAST_SORT_COLUMNS, Carrier.sort_key)


def shown_as_of(pasts: list[timeline.PastCarrier], day) -> list[dict]:
    """A page of past carriers as the caller may see them, with that day's lifecycle fields."""
    by_id = {past.id: past for past in pasts}
    items = shown(carriers.load_presented(list(by_id)))
    return [timeline.overlay(item, by_id[item["id"]], day) for item in items]


def find_as_of(carrier_id: int, day) -> dict:
    """One carrier as the caller may see it on ``day``; 404 when it may not see it on that
    day (history not begun, or a status then that was not public — one answer for both)."""
    carrier = find(carrier_id)
    past = timeline.carrier_on(carrier.id, day)
    if past is None or not _public_on_the_day([past]):
        raise DomainError(404, f"No carrier {carrier_id} on {day}.")
    return timeline.overlay(shown([carrier])[0], past, day)


# --- counts ------------------------------------------------------------------------------


def _group_order(key: str, value) -> tuple[int, str]:
    if key in GROUP_RANKS:
        return GROUP_RANKS[key].index(value), ""
    return 0, value or ""


def stats(args: dict) -> dict:
    """``{"total", "groups"}`` of the visible carriers grouped by ``args["group_by"]``
    (the list filters and ``as_of`` apply)."""
    keys = args["group_by"].split(",")
    if "as_of" in args and not timeline.needs_dates(args, None):
        columns = [getattr(CarrierPeriod if key in RANKS else Carrier, key) for key in keys]
        groups = _grouped(_past_rows(args), columns, keys)
    elif "as_of" in args:
        counts = Counter(
            tuple(timeline.value_of(past, key) for key in keys) for past in as_of(args)
        )
        groups = [
            {**dict(zip(keys, group, strict=True)), "count": count}
            for group, count in counts.items()
        ]
    else:
        groups = _counted(args, keys)
        if groups is None:
            groups = _grouped(visible(args), [getattr(Carrier, key) for key in keys], keys)
    groups.sort(key=lambda group: tuple(_group_order(key, group[key]) for key in keys))
    return {"total": sum(group["count"] for group in groups), "groups": groups}


def _grouped(query: pw.ModelSelect, columns: list, keys: list[str]) -> list[dict]:
    """The groups of ``query`` by ``columns`` (named ``keys``) with their counts, in SQL."""
    rows = (
        query.select(
            *[column.alias(key) for column, key in zip(columns, keys, strict=True)],
            # COUNT(*), not COUNT(id): PostgreSQL then counts from the (type, level, status,
            # town) index alone (an index-only scan), as SQLite does from its covering index.
            pw.fn.COUNT(pw.SQL("*")).alias("count"),
        )
        .group_by(*columns)
        .order_by()
        .dicts()
    )
    return [{**{key: row[key] for key in keys}, "count": row["count"]} for row in rows]


def _counts(filters: dict, keys: list[str]) -> tuple[pw.ModelSelect, pw.ModelSelect | None]:
    """The groups by ``keys`` of ``CarrierCount`` the caller sees, narrowed by ``filters``,
    as ``(group values…, count)`` rows (no key: the total alone), and the caller's own
    carriers to count beside them (``access.counted_scope``)."""
    query, own = access.counted_scope(
        CarrierCount.select(), access.principal(), CarrierCount.status
    )
    query = carriers.filter_carriers(query, filters, counted=CarrierCount)
    columns = [getattr(CarrierCount, key) for key in keys]
    total = pw.fn.SUM(CarrierCount.carriers)
    if not keys:
        return query.select(pw.fn.COALESCE(total, 0)), own
    selected = [c.alias(k) for c, k in zip(columns, keys, strict=True)]
    return query.select(*selected, total.alias("n")).group_by(*columns).having(total > 0), own


def _counted(args: dict, keys: list[str]) -> list[dict] | None:
    """The groups by ``keys`` with their counts (no key: one group, the total) of the
    carriers the caller may see, from ``CarrierCount`` when the question is about type,
    level, status and town alone (today's registry, :data:`carriers.COUNTED_FILTERS`); None
    when it is not (then counted from the carrier table). The groups' counts cover the
    carriers seen by their status; an operator's or partner's own carriers of other
    statuses are counted from the carrier table beside them (``access.counted_scope``). The
    same answer as counting :func:`visible` (tests compare them for every kind of caller),
    from a few hundred rows instead of an index entry per carrier."""
    check_fields(args, args.get("sort"))
    asked = {name for name in FILTER_FIELDS if args.get(name) is not None}
    if "as_of" in args or asked - carriers.COUNTED_FILTERS:
        return None
    filters = {name: args[name] for name in asked}
    shape = _shape(args)
    if shape is None:
        query, own = _counts(filters, keys)
        rows = query.tuples()
    else:
        bound, fixed = shape
        fixed_filters = {name: value for name, value in fixed.items() if name in filters}

        def grouped(*values) -> pw.ModelSelect:
            return _counts({**fixed_filters, **dict(zip(bound, values, strict=True))}, keys)[0]

        name = f"counts {_shape_name(shape)} by={','.join(keys)}"
        values = [args[key] for key in bound]
        rows, own = select_once(name, grouped, *values, plan_each_time=True), None
    counts: Counter = Counter()
    for *group, count in rows:
        # ``town`` is '' for carriers without one (a key column of CarrierCount is never null).
        counts[
            tuple(
                value or None if key == "town" else value
                for key, value in zip(keys, group, strict=True)
            )
        ] += int(count)
    if own is not None:
        own = carriers.filter_carriers(own, filters)
        for group in _grouped(own, [getattr(Carrier, key) for key in keys], keys):
            counts[tuple(group[key] for key in keys)] += group["count"]
    if not keys:
        return [{"count": counts[()]}]
    return [
        {**dict(zip(keys, group, strict=True)), "count": count}
        for group, count in counts.items()
        if count
    ]
