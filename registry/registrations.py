"""Partner registration with bureau review (SPEC §5 ``/registrations``, §6).

A registration is a carrier that entered through ``/registrations``: it starts in status
``submitted`` with ``submitted_by`` set, its partner may edit it until the bureau reviews
it, and the review either approves it (status ``applying`` or ``accredited``, through a
milestone, so that the lifecycle replays it like any other carrier) or rejects it (status
``rejected``, the reason kept). Every step is one audited write with its event.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from registry import audit, carriers, milestones, organizations, state, writes
from registry.db import locked, utcnow, write_transaction
from registry.errors import DomainError
from registry.models import Carrier, CarrierPartner, Organization, Principal

#: Decisions of an approval: the status the carrier moves to and the milestone that does it.
APPROVAL_MILESTONES = {"applying": "application_submitted", "accredited": "accredited"}
#: Milestone fields an approval may carry (only with ``accredited``).
ACCREDITATION_FIELDS = ("level", "certificate_no", "valid_until")


def present(rows: list[Carrier]) -> list[dict[str, Any]]:
    """Registrations as the API shows them: the full carrier, who submitted it and the review
    (a constant number of queries for a page)."""
    submitters = {row.submitted_by for row in rows if row.submitted_by is not None}
    names = (
        dict(
            Principal.select(Principal.id, Principal.name)
            .where(Principal.id.in_(list(submitters)))
            .tuples()
        )
        if submitters
        else {}
    )
    items = carriers.present(rows, {row.id for row in rows})
    return [
        {
            **item,
            "submitted_by": names.get(row.submitted_by),
            "submitted_by_organization_id": row.submitted_by_organization,
            "host_uscc": item["host_organization"]["uscc"],
            "host_name": item["host_organization"]["name"],
            "submitted_at": row.created_at,
            "review_comment": row.review_comment,
            "reviewed_at": row.reviewed_at,
            "reviewed_by": row.reviewed_by,
        }
        for row, item in zip(rows, items, strict=True)
    ]


#: Kind of an organisation created on approval when its partner did not say.
DEFAULT_PROPOSED_KIND = "enterprise"
#: Registration fields naming the host; the domain turns them into a link or a proposal.
HOST_FIELDS = ("host_organization_id", "host_uscc", "host_name", "host_kind")


def _field_error(field: str, message: str) -> DomainError:
    return DomainError(422, "The request body has invalid fields.", {field: [message]})


def _by_code(codes: set[str]) -> dict[str, int]:
    if not codes:
        return {}
    rows = Organization.select(Organization.id, Organization.uscc).where(
        Organization.uscc.in_(list(codes))
    )
    return {code: org_id for org_id, code in rows.tuples()}


def _proposal(item: dict, prefix: str = "") -> dict:
    """An organisation named by code, as typed (``host_uscc``… with ``prefix="host_"``)."""
    return {
        "uscc": item[prefix + "uscc"],
        "name": (item.get(prefix + "name") or "").strip(),
        "kind": item.get(prefix + "kind") or DEFAULT_PROPOSED_KIND,
    }


def resolve(data: dict, who: Principal, carrier: Carrier | None = None) -> dict:
    """The carrier fields and proposals of a registration body (SPEC §6, issue 9).

    Organisations are named by id (``host_organization_id``, ``partners[].organization_id``)
    or by unified social credit code (``host_uscc`` with ``host_name``, ``partners[].uscc``
    with ``name``). The bureau admin may name any organisation either way. A partner names
    its own organisations either way and every other one by credit code only: such an
    organisation is neither looked up for the answer nor linked, but kept as a proposal,
    exactly as typed, until the bureau approves (:func:`approve` links it, or creates it
    when no organisation has the code). So naming an organisation reveals nothing about it
    and puts the registration in no one else's view.

    A partner's registration must name one of its own organisations; the first named (host
    first) is the submitting organisation, the only one whose partners edit or withdraw it.
    While a proposed host is pending, the submitting organisation holds the host column.
    Returns the fields for :mod:`registry.carriers` plus ``proposed_organizations`` and,
    on creation, ``submitted_by_organization``.
    """
    from registry import access

    partner = who.role == access.PARTNER
    own = access.organisations_of(who)
    typed_codes = {data["host_uscc"]} if data.get("host_uscc") else set()
    typed_codes |= {item["uscc"] for item in data.get("partners") or [] if item.get("uscc")}
    known = _by_code(typed_codes)
    # What a partner may resolve by code: only its own organisations.
    resolvable = {code: org for code, org in known.items() if not partner or org in own}

    def foreign_id(org_id: int) -> bool:
        return partner and org_id not in own

    fields = {key: value for key, value in data.items() if key not in HOST_FIELDS}
    previous = (carrier.proposed_organizations or {}) if carrier is not None else {}
    proposed = {"host": previous.get("host"), "partners": previous.get("partners") or []}
    host: int | None = None
    if "host_organization_id" in data or data.get("host_uscc"):
        proposed["host"] = None
        if data.get("host_organization_id") is not None:
            host = data["host_organization_id"]
            if foreign_id(host):
                raise _field_error(
                    "host_organization_id",
                    "Name an organisation that is not yours by its credit code (host_uscc).",
                )
        elif data["host_uscc"] in resolvable:
            host = resolvable[data["host_uscc"]]
        elif partner or data["host_uscc"] not in known:
            if not (data.get("host_name") or "").strip():
                raise _field_error("host_name", "Give the host's name with its credit code.")
            proposed["host"] = _proposal(data, "host_")
            if not partner:
                raise _field_error(
                    "host_uscc", "No organisation has this code: create it first (/organizations)."
                )
    elif carrier is not None and not proposed["host"]:
        host = carrier.host_organization_id
    if "partners" in data:
        links, proposals, seen = [], [], set()
        for index, item in enumerate(data["partners"]):
            if item.get("organization_id") is not None:
                org = item["organization_id"]
                if foreign_id(org):
                    raise _field_error(
                        "partners",
                        f"Partner {index + 1}: name an organisation that is not yours by its "
                        "credit code (uscc).",
                    )
            elif item["uscc"] in resolvable:
                org = resolvable[item["uscc"]]
            else:
                if not (item.get("name") or "").strip():
                    raise _field_error(
                        "partners", f"Partner {index + 1}: give its name with its credit code."
                    )
                if item["uscc"] in seen:
                    raise _field_error("partners", f"Partner {index + 1} is named twice.")
                seen.add(item["uscc"])
                proposals.append({**_proposal(item), "role": item["role"]})
                continue
            if org in seen:
                raise _field_error("partners", f"Partner {index + 1} is named twice.")
            seen.add(org)
            links.append({"organization_id": org, "role": item["role"]})
        fields["partners"] = links
        proposed["partners"] = proposals
    named = ([host] if host is not None else []) + [
        link["organization_id"]
        for link in fields.get("partners", _links(carrier) if carrier is not None else [])
    ]
    if partner:
        submitting = (
            carrier.submitted_by_organization
            if carrier is not None
            else next((org for org in named if org in own), None)
        )
        if submitting is None or submitting not in named:
            ids = ", ".join(map(str, sorted(own)))
            message = (
                f"A partner registers for its own organisations: name one of {ids} as host or "
                "partner, and keep the one that submitted it."
                if carrier is not None
                else f"A partner registers for its own organisations: name one of {ids} as host "
                "or partner."
            )
            raise DomainError(403, message)
        if carrier is None:
            fields["submitted_by_organization"] = submitting
        if host is None and proposed["host"]:
            host = submitting
    if host is not None:
        fields["host_organization_id"] = host
    fields["proposed_organizations"] = (
        proposed if proposed["host"] or proposed["partners"] else None
    )
    return fields


def _links(carrier: Carrier) -> list[dict]:
    return [
        {"organization_id": link.organization_id, "role": link.role}
        for link in carrier.partner_links
    ]


def submit(data: dict, who: Principal) -> Carrier:
    """Create a registration in status ``submitted`` from a body :func:`resolve` reads;
    emits ``registration.submitted``."""
    with write_transaction():
        fields = resolve(data, who)
        carrier = carriers.create_carrier(fields, initial_status="submitted", submitted_by=who.id)
        audit.emit(
            "registration.submitted",
            {"registration": _event_view(carrier)},
            carrier_id=carrier.id,
        )
    return carrier


def _locked(carrier_id: int) -> Carrier:
    return locked(Carrier.select().where(Carrier.id == carrier_id)).get()


def _require_submitted(carrier: Carrier, doing: str) -> None:
    if carrier.status != "submitted":
        raise DomainError(
            409,
            f"Registration {carrier.id} was already reviewed (it is {carrier.status}); "
            f"it cannot be {doing}.",
        )


def edit(
    registration_id: int,
    data: dict,
    who: Principal,
    expected: Collection[int] | None = writes.ANY_VERSION,
) -> Carrier:
    """A partner's (or the bureau's) edit of a registration still awaiting review (409 after),
    compared with the ``expected`` version and written as one guarded write.

    The organisations the body names are resolved first (by credit code for a partner); the
    guarded write then refuses the edit should the registration have moved on since.
    """
    resolved = resolve(data, who, carriers.load(registration_id))
    return carriers.update_carrier(
        registration_id,
        resolved,
        expected,
        check=lambda carrier: _require_submitted(carrier, "edited"),
    )


def withdraw(registration_id: int, expected: Collection[int] | None = writes.ANY_VERSION) -> None:
    """Withdraw a registration before review: it is deleted, with its one audit record
    (action ``delete``, the registration as it was) and a ``registration.withdrawn`` event.
    After the review it is a carrier like any other: 409."""

    def still_submitted(carrier: Carrier) -> None:
        _require_submitted(carrier, "withdrawn")
        audit.emit(
            "registration.withdrawn",
            {"registration": _event_view(carrier)},
            carrier_id=carrier.id,
        )

    carriers.delete_carrier(registration_id, expected, check=still_submitted)


def _materialise(carrier: Carrier) -> list[dict]:
    """Link (or create) the organisations a partner proposed by credit code; return those
    created, for the review record. Called by the approval, inside its transaction."""
    proposed = carrier.proposed_organizations or {}
    wanted = ([proposed["host"]] if proposed.get("host") else []) + list(
        proposed.get("partners") or []
    )
    if not wanted:
        return []
    ids = _by_code({item["uscc"] for item in wanted})
    created = []
    for item in wanted:
        if item["uscc"] not in ids:
            org = Organization(name=item["name"], uscc=item["uscc"], kind=item["kind"])
            organizations.refresh_names(org)
            org.save()
            ids[item["uscc"]] = org.id
            created.append({"id": org.id, "name": org.name, "uscc": org.uscc, "kind": org.kind})
    if proposed.get("host"):
        carrier.host_organization = ids[proposed["host"]["uscc"]]
    linked = {link.organization_id for link in carrier.partner_links}
    for item in proposed.get("partners") or []:
        org = ids[item["uscc"]]
        if org not in linked:
            CarrierPartner.create(carrier=carrier.id, organization=org, role=item["role"])
            linked.add(org)
    carrier.proposed_organizations = None
    return created


def _review_record(carrier: Carrier, decision: str, comment: str | None) -> dict:
    carrier.review_comment = comment
    carrier.reviewed_at = utcnow()
    carrier.reviewed_by = audit.current_actor()
    return {
        "review": {
            "decision": decision,
            "comment": comment,
            "reviewed_by": carrier.reviewed_by,
            "reviewed_at": carrier.reviewed_at,
        }
    }


def approve(carrier: Carrier, decision: dict) -> Carrier:
    """Approve a registration: ``decision["status"]`` is ``applying`` (an
    ``application_submitted`` milestone) or ``accredited`` (an ``accredited`` milestone with
    its level, certificate and validity). One audit record, action ``review``."""
    status = decision["status"]
    with write_transaction():
        carrier = _locked(carrier.id)
        _require_submitted(carrier, "reviewed again")
        review = _review_record(carrier, status, decision.get("comment"))
        created = _materialise(carrier)
        if created:
            review["review"]["organizations_created"] = created
        carriers.refresh_names(carrier)
        carrier.save()
        milestone = {
            "kind": APPROVAL_MILESTONES[status],
            "occurred_on": decision["occurred_on"],
            "note": decision.get("comment") or f"Registration {carrier.id} approved.",
        }
        if status == "accredited":
            milestone.update({name: decision.get(name) for name in ACCREDITATION_FIELDS})
        milestones.record_milestone(carrier, milestone, audit_action="review", audit_extra=review)
        carrier = carriers.load(carrier.id)
        audit.emit(
            "registration.reviewed",
            {"registration": _event_view(carrier), "decision": status},
            carrier_id=carrier.id,
        )
    return carrier


def reject(carrier: Carrier, reason: str) -> Carrier:
    """Reject a registration: status ``rejected`` (also its initial status, so that replaying
    its history keeps it), the reason kept. One audit record, action ``review``."""
    with write_transaction():
        carrier = _locked(carrier.id)
        _require_submitted(carrier, "reviewed again")
        before = carriers.snapshot(carriers.load(carrier.id))
        review = _review_record(carrier, "rejected", reason)
        carrier.status = "rejected"
        carrier.initial_status = "rejected"
        state.refresh_dates(carrier)
        carrier.version += 1
        carrier.updated_at = utcnow()
        carrier.save()
        state.store_periods(carrier)
        carrier = carriers.load(carrier.id)
        after = carriers.snapshot(carrier)
        audit.record_change("review", "carrier", carrier.id, before, {**after, **review})
        audit.emit(
            "registration.reviewed",
            {"registration": _event_view(carrier), "decision": "rejected"},
            carrier_id=carrier.id,
        )
    return carrier


def _event_view(carrier: Carrier) -> dict:
    return audit.jsonable(present([carrier])[0])
