"""Alert schemas (SPEC §3.3, §5.1)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from registry.lifecycle import SCAN_ALERT_KINDS
from registry.vocabulary import ALERT_STATUSES as VOCABULARY_ALERT_STATUSES
from registry.vocabulary import CARRIER_TYPES, LEVELS
from schemas.common import (
    IdArg,
    ListArgsSchema,
    ResourceSchema,
    Timestamp,
    name_search,
    one_of,
    sort_field,
)

#: Every alert kind of SPEC §3.3; the roster kinds are reserved for the members issue.
ALERT_KINDS = [*SCAN_ALERT_KINDS, "postdoc_overstay", "no_postdoc_recruited", "incubation_overdue"]
ALERT_STATUSES = list(VOCABULARY_ALERT_STATUSES)
ALERT_SORTS = ["due_on", "days_left", "opened_on", "resolved_on", "kind", "status", "carrier_id"]


class AlertCarrierSchema(ma.Schema):
    """The carrier an alert is about, in short."""

    id = fields.Integer()
    name = fields.String()
    type = fields.String()
    level = fields.String()
    status = fields.String()
    host_organization_id = fields.Integer()


class AlertSchema(ResourceSchema):
    """A deadline flagged by the scan: one per carrier, kind and due date."""

    carrier_id = fields.Integer(metadata={"description": "The carrier the alert is about."})
    carrier = fields.Nested(AlertCarrierSchema)
    kind = fields.String(metadata={"description": "One of " + ", ".join(ALERT_KINDS)})
    due_on = fields.Date(metadata={"description": "The deadline the alert is about."})
    days_left = fields.Integer(
        metadata={"description": "Days from the last scan's date to due_on (negative: overdue)."}
    )
    status = fields.String(metadata={"description": "open, acknowledged or resolved."})
    opened_on = fields.Date(metadata={"description": "Date of the scan that opened it."})
    acknowledged_at = Timestamp(allow_none=True)
    acknowledged_by = fields.String(
        allow_none=True, metadata={"description": "Who acknowledged it (principal and token)."}
    )
    resolved_on = fields.Date(
        allow_none=True,
        metadata={"description": "Date of the scan that found the condition gone."},
    )


class AlertQueryArgsSchema(ListArgsSchema):
    """Filters of the alert list; ``q`` searches carrier names."""

    q = name_search("the names of the alerts' carriers and their hosts")
    status = fields.String(
        validate=one_of(ALERT_STATUSES, "alert status"),
        metadata={"description": "One of " + ", ".join(ALERT_STATUSES)},
    )
    kind = fields.String(
        validate=one_of(ALERT_KINDS, "alert kind"),
        metadata={"description": "One of " + ", ".join(ALERT_KINDS)},
    )
    carrier_id = IdArg(
        metadata={"description": "Alerts of this carrier."},
    )
    organization_id = IdArg(
        metadata={
            "description": "Alerts of carriers hosted by, or partnered with, this organisation."
        },
    )
    type = fields.String(
        validate=one_of(CARRIER_TYPES, "carrier type"),
        metadata={"description": "Alerts of carriers of this type."},
    )
    level = fields.String(
        validate=one_of(LEVELS, "level"),
        metadata={"description": "Alerts of carriers of this level."},
    )
    level_min = fields.String(
        validate=one_of(LEVELS, "level"),
        metadata={"description": "This level or higher, e.g. provincial = provincial or national."},
    )
    due_before = fields.Date(metadata={"description": "Due on or before this date."})
    due_after = fields.Date(metadata={"description": "Due on or after this date."})
    sort = sort_field(ALERT_SORTS)
