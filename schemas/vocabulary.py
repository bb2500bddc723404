"""The code lists of ``GET /vocabulary``."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields


class CodeSchema(ma.Schema):
    """One code and its display label."""

    code = fields.String(metadata={"description": "The stable code clients send and store."})
    label = fields.String(metadata={"description": "Its display label (Chinese)."})


def _codes(description: str) -> fields.List:
    return fields.List(fields.Nested(CodeSchema), metadata={"description": description})


class VocabularySchema(ma.Schema):
    """Every code list of the API with its labels, in display order."""

    carrier_types = _codes("Carrier `type`.")
    levels = _codes(
        "Carrier `level`, high to low; the municipal and county labels are this city's "
        "(`REGISTRY_LEVEL_LABEL_MUNICIPAL`, `REGISTRY_LEVEL_LABEL_COUNTY`)."
    )
    carrier_statuses = _codes("Carrier `status`.")
    milestone_kinds = _codes("Milestone `kind`.")
    evaluation_results = _codes("Milestone `result` of an evaluation.")
    organization_kinds = _codes("Organisation `kind`.")
    partner_roles = _codes("A carrier partner's `role`.")
    registration_types = _codes("Carrier types a partner may register (`/registrations`).")
    report_statuses = _codes("Annual report `status`.")
    report_metrics = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.Nested(CodeSchema)),
        metadata={"description": "Annual report `metrics` keys, per carrier type."},
    )
    target_metrics = _codes("Target `metric`.")
    target_states = _codes("Target progress `state`.")
    alert_kinds = _codes("Alert `kind`.")
    deadline_kinds = _codes("Deadline `kind` (`/deadlines`, calendar feeds).")
    member_roles = _codes("Roster entry `role`.")
    member_outcomes = _codes("Roster entry `outcome`.")
    roles = _codes("A principal's (token holder's) `role`.")
    change_actions = _codes("Audit trail `action`.")
    event_types = _codes("Webhook event types.")
    webhook_formats = _codes("Webhook `format`.")
    delivery_statuses = _codes("Webhook delivery `status`.")
    towns = _codes("`town`: the configured towns and subdistricts (code and label alike).")
