"""Partner registration with bureau review (SPEC §5 ``/registrations``, §6).

A registration is a carrier that entered through ``/registrations``: it starts in status
``submitted`` with ``submitted_by`` set, its partner may edit it until the bureau reviews
it, and the review either approves it (status ``applying`` or ``accredited``, through a
milestone, so that the lifecycle replays it like any other carrier) or rejects it (status
``rejected``, the reason kept). Every step is one audited write with its event.
"""

from __future__ import annotations

from typing import Any

from registry import audit, carriers, milestones, state
from registry.db import database, locked, utcnow
from registry.errors import DomainError
from registry.models import Carrier, Principal

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
            "submitted_at": row.created_at,
            "review_comment": row.review_comment,
            "reviewed_at": row.reviewed_at,
            "reviewed_by": row.reviewed_by,
        }
        for row, item in zip(rows, items, strict=True)
    ]


def organisations_named(data: dict, carrier: Carrier | None = None) -> set[int]:
    """The host and partner organisations a registration names after applying ``data``."""
    host = data.get("host_organization_id", carrier.host_organization_id if carrier else None)
    if "partners" in data:
        partners = {partner["organization_id"] for partner in data["partners"]}
    elif carrier is not None:
        partners = {link.organization_id for link in carrier.partner_links}
    else:
        partners = set()
    return ({host} if host is not None else set()) | partners


def submit(data: dict, submitted_by: int) -> Carrier:
    """Create a registration in status ``submitted``; emits ``registration.submitted``."""
    with database.atomic():
        carrier = carriers.create_carrier(
            data, initial_status="submitted", submitted_by=submitted_by
        )
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


def edit(carrier: Carrier, data: dict) -> Carrier:
    """A partner's (or the bureau's) edit of a registration still awaiting review (409 after)."""
    with database.atomic():
        _require_submitted(_locked(carrier.id), "edited")
        return carriers.update_carrier(carriers.load(carrier.id), data)


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
    with database.atomic():
        carrier = _locked(carrier.id)
        _require_submitted(carrier, "reviewed again")
        review = _review_record(carrier, status, decision.get("comment"))
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
    with database.atomic():
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
