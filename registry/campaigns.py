"""Evaluation campaigns (SPEC §3.1): rounds of evaluation announced by notice.

A campaign names the carriers it covers (types, levels, accredited before a date) and the
deadline for their materials. Recording, editing or deleting one reconciles the alerts of
every carrier it covers, before and after, in the same transaction: covered carriers get
the evaluation rule's ``evaluation_due`` alert inside their warning window, and
``evaluation_overdue`` once the deadline has passed, until an evaluation dated on or after
the campaign's ``opened_on`` is recorded (see ``registry.alerts``). Any carrier type can
be evaluated in campaigns; national postdoctoral workstations are evaluated only this way.
"""

from __future__ import annotations

from typing import Any

from registry import access, alerts, audit, clock
from registry.db import database, locked, utcnow
from registry.errors import DomainError
from registry.models import Carrier, EvaluationCampaign, Principal

FIELDS = (
    "name",
    "document_ref",
    "types",
    "levels",
    "accredited_before",
    "opened_on",
    "materials_due_on",
    "evaluation_on",
    "note",
)


def as_dict(campaign: EvaluationCampaign, covered_count: int | None = None) -> dict[str, Any]:
    """A campaign as the API shows it (``covered_count``: the carriers it covers that the
    reader may see; left out of audit records)."""
    item = {
        "id": campaign.id,
        **{name: getattr(campaign, name) for name in FIELDS},
        "created_at": campaign.created_at,
        "updated_at": campaign.updated_at,
    }
    if covered_count is not None:
        item["covered_count"] = covered_count
    return item


def covered(campaign: EvaluationCampaign, who: Principal | None):
    """The carriers a campaign covers that ``who`` reads fully (all of them for the bureau)."""
    return access.full_read_scope(
        Carrier.select(Carrier.id).where(Carrier.id.in_(alerts.covered_carriers(campaign))),
        who,
    )


def visible(who: Principal) -> list[EvaluationCampaign]:
    """The campaigns ``who`` may read, latest deadline first: every one for the bureau;
    for operators and partners, those covering at least one of their own carriers."""
    rows = list(
        EvaluationCampaign.select().order_by(
            EvaluationCampaign.materials_due_on.desc(), EvaluationCampaign.id.desc()
        )
    )
    if access.is_bureau(who):
        return rows
    return [row for row in rows if covered(row, who).exists()]


def _check(values: dict) -> None:
    """Field rules across fields (422): the deadline not before the announcement, the
    evaluation not before the deadline."""
    errors: dict[str, list[str]] = {}
    opened_on, due_on = values["opened_on"], values["materials_due_on"]
    if due_on < opened_on:
        errors["materials_due_on"] = [f"The materials deadline is before opened_on ({opened_on})."]
    evaluation_on = values.get("evaluation_on")
    if evaluation_on is not None and evaluation_on < due_on:
        errors["evaluation_on"] = [
            f"The evaluation date is before the materials deadline ({due_on})."
        ]
    if errors:
        raise DomainError(422, "The request body has invalid fields.", errors)


def _covered_ids(campaign: EvaluationCampaign) -> set[int]:
    return {carrier_id for (carrier_id,) in alerts.covered_carriers(campaign).tuples()}


def create(data: dict) -> EvaluationCampaign:
    """Record a campaign (``opened_on`` defaults to today) and open its alerts."""
    values = {name: data.get(name) for name in FIELDS}
    values["levels"] = values["levels"] or []
    values["opened_on"] = values["opened_on"] or clock.today()
    _check(values)
    with database.atomic():
        campaign = EvaluationCampaign.create(**values)
        alerts.reconcile_carriers(_covered_ids(campaign))
        audit.record_change("create", "evaluation_campaign", campaign.id, None, as_dict(campaign))
    return campaign


def update(campaign: EvaluationCampaign, data: dict) -> EvaluationCampaign:
    """Edit a campaign read at ``campaign.version`` (412 when it changed since); the alerts
    of the carriers covered before or after follow."""
    with database.atomic():
        current = locked(
            EvaluationCampaign.select().where(EvaluationCampaign.id == campaign.id)
        ).first()
        if current is None:
            raise DomainError(404, f"No evaluation campaign {campaign.id}.")
        if current.version != campaign.version:
            raise DomainError(412, "The campaign changed since you read it.")
        before = as_dict(current)
        covered_before = _covered_ids(current)
        values = {name: data.get(name, getattr(current, name)) for name in FIELDS}
        values["levels"] = values["levels"] or []
        values["opened_on"] = values["opened_on"] or current.opened_on
        _check(values)
        for name, value in values.items():
            setattr(current, name, value)
        current.version += 1
        current.updated_at = utcnow()
        current.save()
        alerts.reconcile_carriers(covered_before | _covered_ids(current))
        audit.record_change("update", "evaluation_campaign", current.id, before, as_dict(current))
    return current


def delete(campaign: EvaluationCampaign) -> None:
    """Delete a campaign recorded by mistake: the alerts it alone raised are resolved."""
    with database.atomic():
        current = locked(
            EvaluationCampaign.select().where(EvaluationCampaign.id == campaign.id)
        ).first()
        if current is None:
            raise DomainError(404, f"No evaluation campaign {campaign.id}.")
        if current.version != campaign.version:
            raise DomainError(412, "The campaign changed since you read it.")
        before = as_dict(current)
        covered_before = _covered_ids(current)
        current.delete_instance()
        alerts.reconcile_carriers(covered_before)
        audit.record_change("delete", "evaluation_campaign", before["id"], before, None)
