"""Organisation domain functions."""

from __future__ import annotations

from collections.abc import Collection

from registry import audit, carriers, names, writes
from registry.db import write_transaction
from registry.errors import DomainError
from registry.models import Carrier, CarrierPartner, Member, Organization, Principal, Webhook

FIELDS = ("name", "uscc", "uscc_override", "kind", "town", "address", "contact")


def as_dict(org: Organization) -> dict:
    """An organisation as the API shows it."""
    return {
        "id": org.id,
        "name": org.name,
        "uscc": org.uscc,
        "kind": org.kind,
        "town": org.town,
        "address": org.address,
        "contact": org.contact,
        "created_at": org.created_at,
        "updated_at": org.updated_at,
    }


def _check_unique_uscc(code: str | None, own_id: int | None) -> None:
    if not code:
        return
    other = Organization.get_or_none(Organization.uscc == code)
    if other is not None and other.id != own_id:
        raise DomainError(409, f"Organisation {other.id} already has the code {code}.")


def _apply(org: Organization, data: dict) -> None:
    for name in FIELDS:
        if name in data:
            setattr(org, name, data[name])
    if "uscc" in data and not data.get("uscc_override"):
        org.uscc_override = False
    refresh_names(org)


def refresh_names(org: Organization) -> None:
    """Set ``org``'s search and sort keys (``registry.names``) from its name: every write of
    an organisation's name calls this."""
    org.search_key = names.search_key(org.name)
    org.sort_key = names.sort_key(org.name)


def create_organization(data: dict) -> Organization:
    """Create an organisation, audited (an overridden check digit shows in the record)."""
    with write_transaction():
        _check_unique_uscc(data.get("uscc"), None)
        org = Organization()
        _apply(org, data)
        org.save()
        after = {**as_dict(org), "uscc_override": org.uscc_override}
        audit.record_change("create", "organization", org.id, None, after)
    return org


def update_organization(
    org_id: int, data: dict, expected: Collection[int] | None = writes.ANY_VERSION
) -> Organization:
    """Edit the organisation as stored now, if it is at an ``expected`` version (412)."""
    with writes.guarded(Organization, org_id, expected, "organisation") as edit:
        org = edit.row
        before = {**as_dict(org), "uscc_override": org.uscc_override}
        _check_unique_uscc(data.get("uscc"), org.id)
        _apply(org, data)
        edit.save()
        if org.name != before["name"]:
            carriers.refresh_hosted_names(org)
        after = {**as_dict(org), "uscc_override": org.uscc_override}
        audit.record_change("update", "organization", org.id, before, after)
    return org


def delete_organization(org_id: int, expected: Collection[int] | None = writes.ANY_VERSION) -> None:
    """Delete an organisation nothing refers to; 409 naming what still does.

    What refers to an organisation: carriers it hosts or partners, principals whose
    organisations list it (their tokens act for it) and webhook subscriptions whose
    ``organization_id`` filter names it. Ids are never reused (``registry.db.IdField``),
    but a reference to a deleted organisation would still be a dangling grant or filter.
    """
    with writes.guarded(Organization, org_id, expected, "organisation") as edit:
        org = edit.row
        references = _references(org.id)
        if references:
            raise DomainError(
                409,
                f"Organisation {org.id} cannot be deleted while it is named by "
                + "; ".join(references)
                + ".",
            )
        before = as_dict(org)
        org.delete_instance()
        audit.record_change("delete", "organization", before["id"], before, None)


def _references(org_id: int) -> list[str]:
    """What still names organisation ``org_id``, in words (empty when nothing does)."""
    found = []
    hosted = Carrier.select(Carrier.id).where(Carrier.host_organization == org_id)
    partnered = CarrierPartner.select(CarrierPartner.carrier).where(
        CarrierPartner.organization == org_id
    )
    resident = Member.select(Member.carrier).where(Member.organization == org_id)
    for what, query in (
        ("hosts", hosted),
        ("partners", partnered),
        ("has as a resident enterprise", resident),
    ):
        ids = sorted({row[0] for row in query.tuples()})
        if ids:
            found.append(f"carrier(s) it {what}: {_listed(ids)}")
    # Organisation lists and filters are JSON documents: read in Python (a few rows).
    principals = [
        principal.id
        for principal in Principal.select(Principal.id, Principal.organization_ids)
        if org_id in (principal.organization_ids or [])
    ]
    if principals:
        found.append(f"principal(s) {_listed(principals)}")
    webhooks = [
        webhook.id
        for webhook in Webhook.select(Webhook.id, Webhook.filter)
        if org_id in ((webhook.filter or {}).get("organization_id") or [])
    ]
    if webhooks:
        found.append(f"the filter of webhook(s) {_listed(webhooks)}")
    return found


def _listed(ids: list[int], most: int = 10) -> str:
    shown = ", ".join(map(str, ids[:most]))
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")
