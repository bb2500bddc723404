"""Organisation domain functions."""

from __future__ import annotations

from collections.abc import Collection

from registry import audit, writes
from registry.db import database
from registry.errors import DomainError
from registry.models import Carrier, CarrierPartner, Organization

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


def create_organization(data: dict) -> Organization:
    """Create an organisation, audited (an overridden check digit shows in the record)."""
    with database.atomic():
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
        after = {**as_dict(org), "uscc_override": org.uscc_override}
        audit.record_change("update", "organization", org.id, before, after)
    return org


def delete_organization(org_id: int, expected: Collection[int] | None = writes.ANY_VERSION):
    """Delete an organisation that hosts no carrier and partners none (409 otherwise)."""
    with writes.guarded(Organization, org_id, expected, "organisation") as edit:
        org = edit.row
        hosted = Carrier.select().where(Carrier.host_organization == org.id).count()
        partnered = CarrierPartner.select().where(CarrierPartner.organization == org.id).count()
        if hosted or partnered:
            raise DomainError(
                409,
                f"Organisation {org.id} hosts {hosted} and partners {partnered} carrier(s); "
                "it cannot be deleted while they refer to it.",
            )
        before = as_dict(org)
        org.delete_instance()
        audit.record_change("delete", "organization", before["id"], before, None)
