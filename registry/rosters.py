"""Carrier rosters (issue 12): create, edit, end and erase roster entries; the live roster
figures of carriers; the roster deadlines the scan and ``/deadlines`` read; masking of
personal fields for readers that may not see them.

The rules (which role on which carrier, required fields, dates, overlaps, the postdoc's one
extension, the alert deadlines) live in ``registry.roster_rules``; this module stores and
reads. Every write is one transaction with one audit record (linked to the carrier's history)
and one outbox event; events carry no personal fields.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection
from typing import Any

import peewee as pw

from registry import access, audit, clock, roster_rules, writes
from registry.clock import utcnow
from registry.db import Read, among, locked, select_read, write_transaction
from registry.errors import DomainError
from registry.models import Carrier, Change, EvaluationPolicy, Member, Organization

#: Fields a client writes (``role`` only on creation).
WRITABLE_FIELDS = (
    "name",
    "organization_id",
    "institution",
    "title",
    "topic",
    "size",
    "started_on",
    "planned_end_on",
    "ended_on",
    "outcome",
)
#: Shown in place of a personal field to a reader that may not see it.
MASK = "***"

#: Columns read for figures and deadlines (never personal ones).
FACT_COLUMNS = (
    Member.carrier.alias("carrier_id"),
    Member.role,
    Member.started_on,
    Member.planned_end_on,
    Member.ended_on,
    Member.outcome,
    Member.size,
)


# --- presenting -----------------------------------------------------------------------


def organizations_of(members: list[Member]) -> dict[int, dict[str, Any]]:
    """The resident enterprises of a page of entries, as short summaries (one query)."""
    ids = {member.organization_id for member in members if member.organization_id is not None}
    if not ids:
        return {}
    query = Organization.select(Organization.id, Organization.name, Organization.uscc)
    return {
        org.id: {"id": org.id, "name": org.name, "uscc": org.uscc}
        for org in query.where(Organization.id.in_(sorted(ids)))
    }


def present(members: list[Member]) -> list[dict[str, Any]]:
    """A page of entries as a full reader sees them (two queries in all)."""
    orgs = organizations_of(members)
    return [as_dict(member, orgs) for member in members]


def as_dict(member: Member, orgs: dict | None = None) -> dict[str, Any]:
    """A roster entry as a full reader of its carrier sees it (SPEC §5.1 member)."""
    orgs = organizations_of([member]) if orgs is None else orgs
    organization = orgs.get(member.organization_id)
    return {
        "id": member.id,
        "carrier_id": member.carrier_id,
        "role": member.role,
        "name": member.name,
        "organization_id": member.organization_id,
        "organization": organization,
        "institution": member.institution,
        "title": member.title,
        "topic": member.topic,
        "size": member.size,
        "started_on": member.started_on,
        "planned_end_on": member.planned_end_on,
        "ended_on": member.ended_on,
        "outcome": member.outcome,
        "extended": member.extended,
        "erased": member.erased_at is not None,
        "created_at": member.created_at,
        "updated_at": member.updated_at,
    }


def event_view(item: dict[str, Any]) -> dict[str, Any]:
    """An entry without its personal fields (events, and anyone not reading it fully)."""
    return {key: value for key, value in item.items() if key not in roster_rules.PERSONAL_FIELDS}


def masked(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """An audited entry with its personal fields masked (non-empty ones show ``***``)."""
    if record is None:
        return None
    return {
        key: (MASK if key in roster_rules.PERSONAL_FIELDS and value else value)
        for key, value in record.items()
    }


def audit_view(change: dict[str, Any], who) -> dict[str, Any]:
    """An audit record of a roster entry as ``who`` may read it: the bureau reads it whole,
    everyone else with the personal fields of ``before`` and ``after`` masked."""
    if change["object_type"] != "member" or access.is_bureau(who):
        return change
    return {**change, "before": masked(change["before"]), "after": masked(change["after"])}


# --- reading --------------------------------------------------------------------------


def with_carrier() -> pw.ModelSelect:
    """Entries with their carrier (one query): the rules of an edit depend on its type."""
    return Member.select(Member, Carrier).join(Carrier)


def readable(who) -> pw.ModelSelect:
    """The entries ``who`` may read: those of the carriers it may read fully (the bureau all,
    operators their own carriers, partners their approved submissions)."""
    carriers = access.full_read_scope(Carrier.select(Carrier.id), who)
    return Member.select().where(Member.carrier.in_(carriers))


def filtered(query: pw.ModelSelect, args: dict, day: dt.date) -> pw.ModelSelect:
    """``query`` narrowed by the roster filters: carrier, role, on the roster on ``day``
    (``active``), name search (``q``)."""
    if args.get("carrier_id") is not None:
        query = query.where(Member.carrier == args["carrier_id"])
    if args.get("role") is not None:
        query = query.where(Member.role == args["role"])
    if args.get("active") is not None:
        on = (
            Member.started_on.is_null(False)
            & (Member.started_on <= day)
            & (Member.ended_on.is_null() | (Member.ended_on > day))
        )
        query = query.where(on if args["active"] else ~on)
    if args.get("q"):
        query = query.where(Member.name.contains(args["q"]))
    return query


def counted(filters: dict, year: int | None, day: dt.date) -> pw.Expression:
    """The entries a target counts: of ``filters["role"]``, on the roster on ``day`` when
    ``filters["active"]`` is true (off it when false), started in ``year`` when given."""
    condition = Member.id.is_null(False)
    if filters.get("role") is not None:
        condition &= Member.role == filters["role"]
    if filters.get("active") is not None:
        on = (
            Member.started_on.is_null(False)
            & (Member.started_on <= day)
            & (Member.ended_on.is_null() | (Member.ended_on > day))
        )
        condition &= on if filters["active"] else ~on
    if year is not None:
        condition &= Member.started_on.between(dt.date(year, 1, 1), dt.date(year, 12, 31))
    return condition


def _facts_of(carrier_ids) -> pw.SelectQuery:
    return Member.select(*FACT_COLUMNS).where(among(Member.carrier, carrier_ids))


def facts_read(carrier_ids) -> Read:
    """The read of the carriers' entries' facts (role, dates, outcome, size), for
    ``db.select_together`` with the other reads of the carriers shown."""
    return Read("roster facts", _facts_of, (list(carrier_ids),), named=True)


def entries_of(carrier_ids, facts: list | None = None) -> dict[int, list]:
    """carrier id -> its entries' facts (role, dates, outcome, size): one query, unless the
    rows of :func:`facts_read` are given."""
    found: dict[int, list] = defaultdict(list)
    if facts is None:
        facts = select_read(facts_read(carrier_ids))
    for row in facts:
        found[row.carrier_id].append(row)
    return found


def figures(
    carrier_ids: list[int], day: dt.date | None = None, facts: list | None = None
) -> dict[int, dict[str, Any]]:
    """The live roster figures of each carrier (``roster_rules.METRICS``), one query for the
    whole page (none when the rows of :func:`facts_read` are given). Counts only: public."""
    day = day or clock.today()
    entries = entries_of(carrier_ids, facts)
    return {cid: roster_rules.metrics_of(entries.get(cid, []), day) for cid in carrier_ids}


def report_figures(carrier: Carrier, year: int) -> dict[str, float]:
    """The annual-report metrics of ``year`` the roster answers (pre-fill and review)."""
    entries = entries_of([carrier.id]).get(carrier.id, [])
    return roster_rules.report_figures(carrier.type, entries, year)


def mismatches(carrier: Carrier, year: int, metrics: dict) -> list[dict[str, Any]]:
    """Where a report's figure and the roster disagree: ``[{metric, reported, roster}]``
    (metrics the report leaves out are not compared)."""
    roster = report_figures(carrier, year)
    return [
        {"metric": key, "reported": metrics[key], "roster": value}
        for key, value in roster.items()
        if key in metrics and metrics[key] != value
    ]


def policies() -> dict[tuple[str, str], roster_rules.RosterPolicy]:
    """The roster rules of every type × level with a policy (one query)."""
    return {
        (row.type, row.level): roster_rules.RosterPolicy.from_stored(row.roster_rules)
        for row in EvaluationPolicy.select(
            EvaluationPolicy.type, EvaluationPolicy.level, EvaluationPolicy.roster_rules
        )
    }


def policy_for(carrier: Carrier) -> roster_rules.RosterPolicy:
    """The roster rules in force for one carrier's type × level (defaults without a policy)."""
    row = EvaluationPolicy.get_or_none(
        (EvaluationPolicy.type == carrier.type) & (EvaluationPolicy.level == carrier.level)
    )
    return roster_rules.RosterPolicy.from_stored(row.roster_rules if row else None)


def deadlines_of(
    carriers: list, day: dt.date, rules: dict | None = None
) -> list[tuple[Any, roster_rules.RosterRule, dt.date]]:
    """``(carrier, rule, due_on)`` of every roster deadline of ``carriers`` (rows with
    ``id``, ``type``, ``level``, ``status``, ``accredited_on``) on ``day``: two queries."""
    concerned = [
        c for c in carriers if c.type in roster_rules.POSTDOC_TYPES | roster_rules.PARK_TYPES
    ]
    if not concerned:
        return []
    rules = rules if rules is not None else policies()
    entries = entries_of([c.id for c in concerned])
    default = roster_rules.RosterPolicy()
    found = []
    for carrier in concerned:
        policy = rules.get((carrier.type, carrier.level), default)
        for rule, due_on in roster_rules.roster_deadlines(
            carrier, entries.get(carrier.id, []), policy, day
        ):
            found.append((carrier, rule, due_on))
    return found


def wanted_alerts(carriers: list, day: dt.date, window_of: Callable[[Any], int]) -> dict:
    """The roster alerts ``carriers`` should have on ``day``: (carrier id, kind, due date) →
    days left. A deadline raises its alert from ``window_of(carrier)`` days before it (the
    largest of its policy's ``warn_days``) until its condition is gone (see
    ``roster_rules.RosterRule``). Two queries (policies, entries) for the whole batch."""
    wanted = {}
    for carrier, rule, due_on in deadlines_of(carriers, day):
        if roster_rules.wanted_alert(due_on, day, window_of(carrier)):
            wanted[(carrier.id, rule.kind, due_on)] = (due_on - day).days
    return wanted


# --- writing --------------------------------------------------------------------------


def _facts(member: Member) -> dict[str, Any]:
    return {
        "id": member.id,
        "role": member.role,
        **{name: getattr(member, name) for name in WRITABLE_FIELDS},
        "extended": member.extended,
        "erased": member.erased_at is not None,
    }


def _others(carrier_id: int, member_id: int | None) -> list[dict[str, Any]]:
    query = Member.select().where(Member.carrier == carrier_id)
    if member_id is not None:
        query = query.where(Member.id != member_id)
    return [_facts(row) for row in query]


def _check(carrier: Carrier, entry: dict, previous: dict | None, member_id: int | None) -> None:
    policy = policy_for(carrier)
    errors = roster_rules.check_entry(
        entry,
        carrier_type=carrier.type,
        previous=previous,
        others=_others(carrier.id, member_id),
        policy=policy,
        today=clock.today(),
    )
    org_id = entry.get("organization_id")
    if org_id is not None and "organization_id" not in errors:
        if not Organization.select().where(Organization.id == org_id).exists():
            errors["organization_id"] = [f"No organisation {org_id}."]
    if errors:
        raise DomainError(422, "The request body has invalid fields.", errors)


def _apply(member: Member, entry: dict, previous: dict | None, carrier: Carrier) -> None:
    policy = policy_for(carrier)
    if entry["role"] == "postdoc" and entry.get("planned_end_on") is None:
        entry["planned_end_on"] = roster_rules.default_planned_end(
            "postdoc", entry.get("started_on"), policy
        )
    if roster_rules.is_extension(entry, previous, policy):
        member.extended = True
        if entry.get("ended_on") is None and entry.get("outcome") is None:
            entry["outcome"] = "extended"
    for name in WRITABLE_FIELDS:
        setattr(member, name if name != "organization_id" else "organization", entry.get(name))


def create_member(carrier: Carrier, data: dict, *, actor: str | None = None) -> Member:
    """Add an entry to ``carrier``'s roster (422 when the rules refuse it)."""
    entry = {"role": data["role"], **{name: data.get(name) for name in WRITABLE_FIELDS}}
    with write_transaction():
        locked(Carrier.select().where(Carrier.id == carrier.id)).get()
        if entry["role"] == "postdoc" and entry.get("planned_end_on") is None:
            entry["planned_end_on"] = roster_rules.default_planned_end(
                "postdoc", entry.get("started_on"), policy_for(carrier)
            )
        _check(carrier, entry, None, None)
        member = Member(carrier=carrier.id, role=entry["role"])
        _apply(member, entry, None, carrier)
        member.save()
        after = as_dict(member)
        audit.record_change(
            "create", "member", member.id, None, after, actor=actor, carrier_id=carrier.id
        )
        audit.emit("member.created", {"member": event_view(audit.jsonable(after))})
    return member


def update_member(
    member_id: int,
    data: dict,
    expected: Collection[int] | None = writes.ANY_VERSION,
    *,
    actor: str | None = None,
) -> Member:
    """Edit an entry (its role stays) if it is at an ``expected`` version (412 otherwise);
    ending a stay (出站, move-out) is an edit setting ``ended_on`` and ``outcome``. An erased
    entry keeps its personal fields empty (409)."""
    with writes.guarded(Member, member_id, expected, "member", with_carrier()) as edit:
        member = edit.row
        carrier = member.carrier
        if member.erased_at is not None and any(
            data.get(name) for name in roster_rules.PERSONAL_FIELDS
        ):
            raise DomainError(
                409, f"Member {member.id} was erased; its personal fields stay empty."
            )
        previous = _facts(member)
        entry = {**previous, **{k: v for k, v in data.items() if k in WRITABLE_FIELDS}}
        _check(carrier, entry, previous, member.id)
        before = as_dict(member)
        _apply(member, entry, previous, carrier)
        edit.save()
        after = as_dict(member)
        audit.record_change(
            "update", "member", member.id, before, after, actor=actor, carrier_id=carrier.id
        )
        changed = sorted(key for key in after if after[key] != before[key])
        audit.emit(
            "member.updated", {"member": event_view(audit.jsonable(after)), "changed": changed}
        )
    return member


def erase_member(
    member_id: int,
    expected: Collection[int] | None = writes.ANY_VERSION,
    *,
    actor: str | None = None,
) -> Member:
    """Erase an entry's personal fields on request (PIPL), if it is at an ``expected`` version
    (412 otherwise): name, institution, title and topic are emptied here and in the entry's
    earlier audit records; role, dates and outcome stay, so every count stays right. The
    erasure itself is audited (without the erased values).
    """
    with writes.guarded(Member, member_id, expected, "member") as edit:
        member = edit.row
        if member.erased_at is not None:
            raise DomainError(409, f"Member {member.id} was erased already.")
        before = masked(audit.jsonable(as_dict(member)))
        for name in roster_rules.PERSONAL_FIELDS:
            setattr(member, name, None)
        member.erased_at = utcnow()
        edit.save()
        _scrub_audit(member.id)
        after = as_dict(member)
        audit.record_change(
            "delete", "member", member.id, before, after, actor=actor, carrier_id=member.carrier_id
        )
        audit.emit("member.erased", {"member": event_view(audit.jsonable(after))})
    return member


def _scrub_audit(member_id: int) -> None:
    """Remove the personal fields from the earlier audit records of one entry."""
    records = Change.select().where(
        (Change.object_type == "member") & (Change.object_id == member_id)
    )
    for change in records:
        for side in ("before", "after"):
            value = getattr(change, side)
            if value:
                setattr(change, side, {**value, **dict.fromkeys(roster_rules.PERSONAL_FIELDS)})
        change.save()
