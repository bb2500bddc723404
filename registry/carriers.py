"""Carrier domain functions: create, edit, delete, rebuild from milestones, present.

Views, imports, the registration review and the demo loader all call these, so that the
audit record, the outbox event and the derived dates are written the same way everywhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from typing import Any

import peewee as pw

from registry import alerts, audit, names, rosters, writes
from registry.db import (
    Read,
    among,
    insert_rows,
    locked,
    select_once,
    select_together,
    write_transaction,
)
from registry.errors import DomainError
from registry.models import (
    Alert,
    Carrier,
    CarrierPartner,
    CarrierPeriod,
    CarrierTag,
    Milestone,
    Organization,
)
from registry.state import period_rows, policies, refresh_dates, store_periods, to_policy
from registry.vocabulary import levels_at_least

#: Rows read or written per query when working on many carriers at once.
CHUNK = 500
#: Fields a client may write; the lifecycle owns every other column.
DESCRIPTIVE_FIELDS = (
    "name",
    "type",
    "level",
    "host_organization_id",
    "town",
    "description",
    "lead_person",
    "established_on",
    "attributes",
    "contact",
)


# --- presenting -----------------------------------------------------------------------


def present(carriers: list[Carrier], full_ids: set[int]) -> list[dict[str, Any]]:
    """Carriers as the API shows them, in a constant number of queries for the whole list.

    ``full_ids`` are the carriers the caller may read fully; the others are reduced to their
    public fields by the view.
    """
    ids = [carrier.id for carrier in carriers]
    full = [carrier_id for carrier_id in ids if carrier_id in full_ids]
    partner_rows, tag_rows, alert_rows, facts = select_together(
        Read("partners", _partners, (ids,)),
        Read("carrier tags", _tags, (ids,)),
        Read("open alert counts", _open_alert_counts, (full,)),
        rosters.facts_read(ids),
    )
    partners: dict[int, list] = defaultdict(list)
    tags: dict[int, list] = defaultdict(list)
    figures = rosters.figures(ids, facts=facts)
    for carrier_id, organization_id, role, name in partner_rows:
        partner = {"organization_id": organization_id, "role": role, "name": name}
        partners[carrier_id].append(partner)
    for carrier_id, tag in tag_rows:
        tags[carrier_id].append(tag)
    alerts = dict(alert_rows)
    return [
        {
            **_as_dict(carrier, partners[carrier.id], tags[carrier.id], alerts.get(carrier.id, 0)),
            "roster_metrics": figures[carrier.id],
        }
        for carrier in carriers
    ]


def _partners(ids) -> pw.SelectQuery:
    return (
        CarrierPartner.select(
            CarrierPartner.carrier,
            CarrierPartner.organization,
            CarrierPartner.role,
            Organization.name,
        )
        .join(Organization)
        .where(among(CarrierPartner.carrier, ids))
        .order_by(CarrierPartner.id)
    )


def _tags(ids) -> pw.SelectQuery:
    return (
        CarrierTag.select(CarrierTag.carrier, CarrierTag.tag)
        .where(among(CarrierTag.carrier, ids))
        .order_by(CarrierTag.id)
    )


def _open_alert_counts(ids) -> pw.SelectQuery:
    return (
        Alert.select(Alert.carrier, pw.fn.COUNT(Alert.id))
        .where(among(Alert.carrier, ids) & (Alert.status != "resolved"))
        .group_by(Alert.carrier)
    )


def _as_dict(carrier: Carrier, partners: list, tags: list, open_alerts: int) -> dict[str, Any]:
    host = carrier.host_organization
    host_summary = {"id": host.id, "name": host.name, "uscc": host.uscc}
    host_id = carrier.host_organization_id
    proposed = carrier.proposed_organizations or {}
    if proposed.get("host"):
        # A registration's host named by credit code, pending review: shown as its partner
        # typed it (the provisional host row is the submitting organisation).
        host_id = None
        host_summary = {"id": None, **{key: proposed["host"][key] for key in ("name", "uscc")}}
    partners = partners + [
        {"organization_id": None, "role": item["role"], "name": item["name"], "uscc": item["uscc"]}
        for item in proposed.get("partners") or []
    ]
    return {
        "id": carrier.id,
        "name": carrier.name,
        "type": carrier.type,
        "level": carrier.level,
        "status": carrier.status,
        "host_organization_id": host_id,
        "host_organization": host_summary,
        "partners": partners,
        "town": carrier.town,
        "tags": tags,
        "description": carrier.description,
        "lead_person": carrier.lead_person,
        "established_on": carrier.established_on,
        "accredited_on": carrier.accredited_on,
        "certificate_no": carrier.certificate_no,
        "valid_until": carrier.valid_until,
        "next_evaluation_on": carrier.next_evaluation_on,
        "report_due": carrier.report_due_override,
        "next_report_due_on": carrier.next_report_due_on,
        "open_alert_count": open_alerts,
        "attributes": carrier.attributes or {},
        "contact": carrier.contact,
        "created_at": carrier.created_at,
        "updated_at": carrier.updated_at,
    }


#: What a carrier shows of its host (``host_organization`` in :func:`present`): a page of
#: carriers reads only these columns of the hosts.
HOST_SUMMARY = (Organization.id, Organization.name, Organization.uscc)


#: The carrier columns :func:`present` shows (beside :data:`HOST_SUMMARY`): all that a reader
#: of many carriers only to show them needs (a test holds it against whole rows).
PRESENTED_COLUMNS = (
    Carrier.id,
    Carrier.name,
    Carrier.type,
    Carrier.level,
    Carrier.status,
    Carrier.host_organization,
    Carrier.proposed_organizations,
    Carrier.town,
    Carrier.description,
    Carrier.lead_person,
    Carrier.established_on,
    Carrier.accredited_on,
    Carrier.certificate_no,
    Carrier.valid_until,
    Carrier.next_evaluation_on,
    Carrier.report_due_override,
    Carrier.next_report_due_on,
    Carrier.attributes,
    Carrier.contact,
    Carrier.created_at,
    Carrier.updated_at,
)


def with_host() -> pw.ModelSelect:
    """Carriers joined with their host organisation (one query for a page)."""
    return Carrier.select(Carrier, Organization).join(Organization)


#: Filters that look at a carrier's lifecycle (its state or derived dates): a point-in-time
#: list applies them to the replayed state rather than to the stored columns.
LIFECYCLE_FILTERS = frozenset(
    {
        "level",
        "level_min",
        "status",
        "accredited_from",
        "accredited_to",
        "evaluation_due_before",
        "report_due_before",
    }
)


#: The filters that read only a carrier's type, level, status and town: a question made of
#: these alone is answered from ``CarrierCount`` (see :func:`filter_carriers`).
COUNTED_FILTERS = frozenset({"type", "level", "level_min", "status", "town"})


def filter_carriers(
    query: pw.ModelSelect, args: dict, skip=frozenset(), counted=Carrier
) -> pw.ModelSelect:
    """``query`` narrowed by the carrier filters in ``args`` (the list's query parameters and
    the filters of a target), except those named in ``skip``.

    ``counted``: the model whose ``type``, ``level``, ``status`` and ``town`` the
    :data:`COUNTED_FILTERS` compare: ``CarrierCount`` narrows its groups by the same rules
    (the caller passes no other filter then)."""
    wanted = {key: value for key, value in args.items() if key not in skip and value is not None}
    if "type" in wanted:
        # One type (list filters) or several (a target's filter may name a list of types).
        types = wanted["type"]
        if isinstance(types, list | tuple):
            query = query.where(counted.type.in_(list(types)))
        else:
            query = query.where(counted.type == types)
    if "level" in wanted:
        query = query.where(counted.level == wanted["level"])
    if "level_min" in wanted:
        query = query.where(counted.level.in_(levels_at_least(wanted["level_min"])))
    if "status" in wanted:
        query = query.where(counted.status == wanted["status"])
    if "town" in wanted:
        query = query.where(counted.town == wanted["town"])
    if counted is not Carrier:
        if set(wanted) - COUNTED_FILTERS:
            raise ValueError(f"Not counted by group: {sorted(set(wanted) - COUNTED_FILTERS)}")
        return query
    if "organization_id" in wanted:
        query = query.where(Carrier.id.in_(Carrier.linked_to([wanted["organization_id"]])))
    if "tag" in wanted:
        tagged = CarrierTag.select(CarrierTag.carrier).where(CarrierTag.tag == wanted["tag"])
        query = query.where(Carrier.id.in_(tagged))
    if "q" in wanted:
        query = query.where(names.matches(Carrier.search_key, wanted["q"]))
    if "accredited_from" in wanted:
        query = query.where(Carrier.accredited_on >= wanted["accredited_from"])
    if "accredited_to" in wanted:
        query = query.where(Carrier.accredited_on <= wanted["accredited_to"])
    if "evaluation_due_before" in wanted:
        query = query.where(Carrier.next_evaluation_on <= wanted["evaluation_due_before"])
    if "report_due_before" in wanted:
        query = query.where(Carrier.next_report_due_on <= wanted["report_due_before"])
    return query


def load(carrier_id: int) -> Carrier | None:
    """One carrier with its host, or None (its SQL built once: every read of one carrier
    starts here)."""
    found = select_once("carrier with host", _with_host_by_id, carrier_id, model=Carrier)
    return found[0] if found else None


def _with_host_by_id(carrier_id) -> pw.ModelSelect:
    return with_host().where(Carrier.id == carrier_id)


def load_many(ids: list[int]) -> list[Carrier]:
    """Carriers with their hosts, in the order of ``ids`` (one query)."""
    if not ids:
        return []
    return _in_order(ids, select_once("carriers with hosts", _with_hosts_of, ids, model=Carrier))


def _in_order(ids: list[int], rows: list[Carrier]) -> list[Carrier]:
    """``rows`` in the order of ``ids`` (those found)."""
    found = {carrier.id: carrier for carrier in rows}
    return [found[carrier_id] for carrier_id in ids if carrier_id in found]


def _with_hosts_of(ids) -> pw.ModelSelect:
    return with_host().where(among(Carrier.id, ids))


def load_presented(ids: list[int]) -> list[Carrier]:
    """Carriers in the order of ``ids`` (one query) with only what :func:`present` shows of
    them and of their hosts: for reading many carriers to show them and nothing else (an
    export). Half the cost of :func:`load_many`, most of which is peewee making each
    column's value; never save these rows."""
    if not ids:
        return []
    return _in_order(ids, select_once("presented carriers", _presented_of, ids, model=Carrier))


def _presented_of(ids) -> pw.ModelSelect:
    return (
        Carrier.select(*PRESENTED_COLUMNS, *HOST_SUMMARY)
        .join(Organization)
        .where(among(Carrier.id, ids))
    )


def snapshot(carrier: Carrier) -> dict[str, Any]:
    """The full state of one carrier, for audit records and events."""
    return audit.jsonable(present([carrier], {carrier.id})[0])


# --- writing --------------------------------------------------------------------------


def _check_organisations(data: dict) -> None:
    _check_organisations_of([data])


def _check_organisations_of(items: list[dict]) -> None:
    """422 when a write names a host or partner organisation that does not exist (one query
    for all ``items``; the message names the first item's problem)."""
    wanted = set()
    for data in items:
        if "host_organization_id" in data:
            wanted.add(data["host_organization_id"])
        wanted |= {partner["organization_id"] for partner in data.get("partners") or []}
    if not wanted:
        return
    found = set()
    ordered = sorted(wanted)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        found |= {
            row.id for row in Organization.select(Organization.id).where(Organization.id.in_(chunk))
        }
    for data in items:
        errors = {}
        if "host_organization_id" in data and data["host_organization_id"] not in found:
            errors["host_organization_id"] = [f"No organisation {data['host_organization_id']}."]
        missing = sorted({p["organization_id"] for p in data.get("partners") or []} - found)
        if missing:
            errors["partners"] = [f"No organisation {', '.join(map(str, missing))}."]
        if errors:
            raise DomainError(422, "The request body has invalid fields.", errors)


def _write_links(carrier: Carrier, data: dict) -> None:
    if "partners" in data:
        CarrierPartner.delete().where(CarrierPartner.carrier == carrier.id).execute()
        for partner in data["partners"]:
            CarrierPartner.create(
                carrier=carrier, organization=partner["organization_id"], role=partner["role"]
            )
    if "tags" in data:
        CarrierTag.delete().where(CarrierTag.carrier == carrier.id).execute()
        for tag in dict.fromkeys(tag.strip() for tag in data["tags"] if tag.strip()):
            CarrierTag.create(carrier=carrier, tag=tag)


def _insert_links(new: list[Carrier], items: list[dict]) -> None:
    """The partners and tags of new carriers (as :func:`_write_links` writes them)."""
    partners, tags = [], []
    for carrier, data in zip(new, items, strict=True):
        partners += [
            {"carrier": carrier.id, "organization": p["organization_id"], "role": p["role"]}
            for p in data.get("partners") or []
        ]
        unique = dict.fromkeys(tag.strip() for tag in data.get("tags") or [] if tag.strip())
        tags += [{"carrier": carrier.id, "tag": tag} for tag in unique]
    insert_rows(CarrierPartner, partners)
    insert_rows(CarrierTag, tags)


#: Registration bookkeeping that :mod:`registry.registrations` passes along (never a client's).
REGISTRATION_FIELDS = ("submitted_by_organization", "proposed_organizations")


def _set_fields(carrier: Carrier, data: dict) -> None:
    for name in DESCRIPTIVE_FIELDS + REGISTRATION_FIELDS:
        if name in data:
            setattr(carrier, name, data[name])
    if "valid_until" in data:
        carrier.valid_until_override = data["valid_until"]
    if "next_evaluation_on" in data:
        carrier.next_evaluation_override = data["next_evaluation_on"]
    if "report_due" in data:
        carrier.report_due_override = data["report_due"]


def refresh_names(carrier: Carrier, host_name: str | None = None) -> None:
    """Set ``carrier``'s search and sort keys (``registry.names``) from its name and its
    host's name (read unless given): every write of a name or a host calls this."""
    if host_name is None:
        host = Organization.get_or_none(Organization.id == carrier.host_organization_id)
        host_name = host.name if host is not None else None
    carrier.search_key = names.search_key(carrier.name, host_name)
    carrier.sort_key = names.sort_key(carrier.name)


def refresh_hosted_names(host: Organization) -> int:
    """Rewrite the search keys of the carriers ``host`` hosts (after its rename); the keys are
    no part of a carrier's representation, so versions stay. Returns how many changed."""
    changed = 0
    for carrier in Carrier.select(Carrier.id, Carrier.name, Carrier.search_key).where(
        Carrier.host_organization == host.id
    ):
        key = names.search_key(carrier.name, host.name)
        if key != carrier.search_key:
            changed += Carrier.update(search_key=key).where(Carrier.id == carrier.id).execute()
    return changed


def _check_unique_name(carrier: Carrier) -> None:
    """A host has one carrier of a name (409 for a second); a refused registration does not
    count. The host's row is locked first, so two concurrent writes cannot both pass."""
    _check_unique_names([carrier])


def _check_unique_names(new: list[Carrier]) -> None:
    """:func:`_check_unique_name` for several carriers at once (their hosts locked, one
    query per chunk), a repeated (host, name) among them included."""
    hosts = sorted({carrier.host_organization_id for carrier in new})
    host_names: dict[int, str] = {}
    for start in range(0, len(hosts), CHUNK):
        query = Organization.select(Organization.id, Organization.name).where(
            Organization.id.in_(hosts[start : start + CHUNK])
        )
        host_names.update((row.id, row.name) for row in locked(query))
    taken: dict[tuple[int, str], int] = {}
    names = sorted({carrier.name for carrier in new})
    for start in range(0, len(names), CHUNK):
        same = Carrier.select(Carrier.id, Carrier.host_organization, Carrier.name).where(
            Carrier.host_organization.in_(hosts)
            & Carrier.name.in_(names[start : start + CHUNK])
            & (Carrier.status != "rejected")
        )
        for row in same.order_by(Carrier.id):
            taken.setdefault((row.host_organization_id, row.name), row.id)
    for index, carrier in enumerate(new):
        key = (carrier.host_organization_id, carrier.name)
        mine = carrier.id if carrier.id is not None else -1 - index
        if key in taken and taken[key] != mine:
            host = host_names.get(carrier.host_organization_id) or "The host"
            other = taken[key]
            where = f"carrier {other}" if other > 0 else "another carrier of the same write"
            raise DomainError(409, f"{host} already has a carrier named {carrier.name} ({where}).")
        taken[key] = mine


def create_carrier(
    data: dict,
    *,
    initial_status: str = "applying",
    submitted_by: int | None = None,
    action: str = "create",
) -> Carrier:
    """Create a carrier in ``initial_status`` with its partners and tags, audited, with an event."""
    with write_transaction():
        (created,) = create_carriers(
            [data], initial_status=initial_status, submitted_by=submitted_by, action=action
        )
        return load(created.id)  # the whole row: callers save it, or answer with its version


def create_carriers(
    items: list[dict],
    *,
    initial_status: str = "applying",
    submitted_by: int | None = None,
    action: str = "create",
) -> list[Carrier]:
    """Create carriers as :func:`create_carrier` does each (the same checks, audit record
    and ``carrier.created`` event per carrier), in one transaction and with a number of
    queries that grows with the number of carriers only by their own inserts (the import).

    Returns the new carriers as :func:`load_presented` reads them (what the API shows, not
    to be saved; :func:`create_carrier` returns a whole row)."""
    with write_transaction():
        _check_organisations_of(items)
        new = []
        for data in items:
            carrier = Carrier(
                status=initial_status,
                initial_status=initial_status,
                submitted_by=submitted_by,
                attributes={},
            )
            _set_fields(carrier, data)
            new.append(carrier)
        _check_unique_names(new)
        hosts = dict(
            Organization.select(Organization.id, Organization.name)
            .where(Organization.id.in_(sorted({c.host_organization_id for c in new})))
            .tuples()
        )
        for carrier in new:
            refresh_names(carrier, hosts.get(carrier.host_organization_id))
        in_force = policies()
        for carrier in new:
            carrier.initial_level = carrier.level
            policy = in_force.get((carrier.type, carrier.level)) or to_policy(None)
            refresh_dates(carrier, policy)
        _insert(new)
        # A new carrier has no milestones yet: its one period is its initial state.
        insert_rows(CarrierPeriod, [row for carrier in new for row in period_rows(carrier, [])])
        _insert_links(new, items)
        ids = [carrier.id for carrier in new]
        created: list[Carrier] = []
        for start in range(0, len(ids), CHUNK):
            chunk = load_presented(ids[start : start + CHUNK])
            changes, events = [], []
            for carrier, shown in zip(chunk, present(chunk, set(ids)), strict=True):
                after = audit.jsonable(shown)
                changes.append(audit.change_row(action, "carrier", carrier.id, None, after))
                events.append(audit.event_row("carrier.created", {"carrier": after}, carrier.id))
            audit.record_changes(changes)
            audit.emit_many(events)
            created += chunk
    return created


def _insert(new: list[Carrier]) -> None:
    """Insert new carriers (one statement per chunk) and give each its id.

    Their (host, name) pairs are unique among the carriers that count (checked, hosts
    locked, inside this write transaction), so reading the pairs back finds each id.
    """
    if len(new) == 1:
        new[0].save()
        return
    columns = sorted({name for carrier in new for name in carrier.__data__} - {"id"})
    for start in range(0, len(new), CHUNK):
        chunk = new[start : start + CHUNK]
        # Not peewee's insert_many: building its SQL row by row cost more than the insert.
        insert_rows(Carrier, [{name: c.__data__.get(name) for name in columns} for c in chunk])
        ids = {
            (row.host_organization_id, row.name): row.id
            for row in Carrier.select(Carrier.id, Carrier.host_organization, Carrier.name).where(
                Carrier.host_organization.in_(sorted({c.host_organization_id for c in chunk}))
                & Carrier.name.in_(sorted({c.name for c in chunk}))
                & (Carrier.status != "rejected")
            )
        }
        for carrier in chunk:
            carrier.id = ids[(carrier.host_organization_id, carrier.name)]


def update_carrier(
    carrier_id: int,
    data: dict,
    expected: Collection[int] | None = writes.ANY_VERSION,
    *,
    action: str = "update",
    check: Callable[[Carrier], None] | None = None,
) -> Carrier:
    """Apply a descriptive edit to the carrier as stored now, if it is at an ``expected``
    version (412 otherwise); the level edit of a carrier with a history is refused (409).

    ``check`` runs on the locked row before anything is written (e.g. "still a registration
    awaiting review").
    """
    with writes.guarded(Carrier, carrier_id, expected, "carrier", with_host()) as edit:
        carrier = edit.row
        if check is not None:
            check(carrier)
        before = snapshot(carrier)
        if "level" in data and data["level"] != carrier.level and carrier.accredited_on:
            raise DomainError(
                409,
                f"Carrier {carrier.id} is {carrier.status}; its level changes only through "
                "a level_changed milestone.",
            )
        _check_organisations(data)
        _set_fields(carrier, data)
        if "name" in data or "host_organization_id" in data:
            _check_unique_name(carrier)
            refresh_names(carrier)
        initial_level = carrier.initial_level
        if "level" in data and not carrier.accredited_on:
            carrier.initial_level = carrier.level
        refresh_dates(carrier)
        edit.save()
        if carrier.initial_level != initial_level:
            store_periods(carrier)  # the replay starts from another level
        _write_links(carrier, data)
        # An override of valid_until or next_evaluation_on moves deadlines: alerts follow.
        alerts.reconcile_carriers([carrier.id], moved=[carrier.id])
        carrier = load(carrier.id)
        after = snapshot(carrier)
        changed = sorted(key for key in after if after[key] != before[key])
        audit.record_change(action, "carrier", carrier.id, before, after)
        audit.emit("carrier.updated", {"carrier": after, "changed": changed}, carrier_id=carrier.id)
    return carrier


def delete_carrier(
    carrier_id: int,
    expected: Collection[int] | None = writes.ANY_VERSION,
    *,
    check: Callable[[Carrier], None] | None = None,
) -> None:
    """Delete a carrier that never held an accreditation; others are closed, never deleted.

    ``check`` runs on the locked row first (e.g. "a registration still awaiting review").
    """
    with writes.guarded(Carrier, carrier_id, expected, "carrier", with_host()) as edit:
        carrier = edit.row
        if check is not None:
            check(carrier)
        has_history = Milestone.select().where(Milestone.carrier == carrier.id).exists()
        if has_history or carrier.accredited_on:
            raise DomainError(
                409,
                f"Carrier {carrier.id} has an accreditation history and cannot be deleted; "
                "record a closed milestone instead.",
            )
        before = snapshot(carrier)
        carrier.delete_instance(recursive=True)
        audit.record_change("delete", "carrier", before["id"], before, None)
