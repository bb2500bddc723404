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

from collections.abc import Collection
from typing import Any

import peewee as pw

from registry import access, alerts, audit, clock, writes
from registry.db import write_transaction
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
#: How 404 and 412 answers name a campaign.
WHAT = "evaluation campaign"


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


def visible(who: Principal, carrier_type: str | None = None) -> pw.ModelSelect:
    """The campaigns ``who`` may read (of ``carrier_type`` when given), unsorted: every one
    for the bureau; for operators and partners, those covering at least one of their own
    carriers. Types are a JSON list nothing queries inside, so both tests run here in Python
    (a few dozen rounds) and the query selects the ids that pass."""
    query = EvaluationCampaign.select()
    if access.is_bureau(who) and carrier_type is None:
        return query
    ids = [
        row.id
        for row in query
        if (carrier_type is None or carrier_type in (row.types or []))
        and (access.is_bureau(who) or covered(row, who).exists())
    ]
    return EvaluationCampaign.select().where(EvaluationCampaign.id.in_(ids))


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


def _apply(campaign: EvaluationCampaign, data: dict) -> None:
    """Set the fields ``data`` names on ``campaign`` after checking the campaign as it will be
    (``opened_on`` defaults to today on a new campaign and stays as it was on an edit)."""
    values = {name: data.get(name, getattr(campaign, name)) for name in FIELDS}
    values["levels"] = values["levels"] or []
    values["opened_on"] = values["opened_on"] or campaign.opened_on or clock.today()
    _check(values)
    for name, value in values.items():
        setattr(campaign, name, value)


def create(data: dict) -> EvaluationCampaign:
    """Record a campaign and open its alerts (audited, one transaction)."""
    campaign = EvaluationCampaign(**{name: None for name in FIELDS})
    _apply(campaign, data)
    with write_transaction():
        campaign.save()
        alerts.reconcile_carriers(_covered_ids(campaign))
        audit.record_change("create", "evaluation_campaign", campaign.id, None, as_dict(campaign))
    return campaign


def update(
    campaign_id: int, data: dict, expected: Collection[int] | None = writes.ANY_VERSION
) -> EvaluationCampaign:
    """Edit a campaign, if it is at an ``expected`` version (412); the alerts of the carriers
    covered before or after follow in the same transaction (audited)."""
    with writes.guarded(EvaluationCampaign, campaign_id, expected, WHAT) as edit:
        campaign = edit.row
        before = as_dict(campaign)
        covered_before = _covered_ids(campaign)
        _apply(campaign, data)
        edit.save()
        alerts.reconcile_carriers(covered_before | _covered_ids(campaign))
        audit.record_change("update", "evaluation_campaign", campaign.id, before, as_dict(campaign))
    return campaign


def delete(campaign_id: int, expected: Collection[int] | None = writes.ANY_VERSION) -> None:
    """Delete a campaign recorded by mistake, if it is at an ``expected`` version (412): the
    alerts it alone raised are resolved in the same transaction (audited)."""
    with writes.guarded(EvaluationCampaign, campaign_id, expected, WHAT) as edit:
        before = as_dict(edit.row)
        covered_before = _covered_ids(edit.row)
        edit.row.delete_instance()
        alerts.reconcile_carriers(covered_before)
        audit.record_change("delete", "evaluation_campaign", before["id"], before, None)
