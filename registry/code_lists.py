"""Every code list with its labels, as ``GET /api/v1/vocabulary`` answers it (and the pages
may show it): the codes of ``registry.vocabulary``, the configured level labels and towns, and
the deadline kinds of the lifecycle and roster rules."""

from __future__ import annotations

from registry import deadlines, places
from registry.vocabulary import (
    ALERT_KINDS,
    CARRIER_STATUSES,
    CARRIER_TYPES,
    CHANGE_ACTION_LABELS,
    DELIVERY_STATUS_LABELS,
    EVALUATION_RESULTS,
    EVENT_TYPES,
    MEMBER_OUTCOMES,
    MEMBER_ROLES,
    MILESTONE_KINDS,
    ORGANIZATION_KINDS,
    PARTNER_ROLES,
    REGISTRATION_TYPES,
    REPORT_METRICS,
    REPORT_STATUSES,
    ROLE_LABELS,
    TARGET_METRICS,
    TARGET_STATES,
    WEBHOOK_FORMATS,
    level_labels,
)


def _entries(labels: dict[str, str]) -> list[dict[str, str]]:
    return [{"code": code, "label": label} for code, label in labels.items()]


def code_lists(config: dict) -> dict:
    """Every code list with its labels, in display order (``GET /api/v1/vocabulary``): the
    codes of this module, the configured level labels and towns, the deadline kinds."""
    return {
        "carrier_types": _entries(CARRIER_TYPES),
        "levels": _entries(level_labels(config)),
        "carrier_statuses": _entries(CARRIER_STATUSES),
        "milestone_kinds": _entries(MILESTONE_KINDS),
        "evaluation_results": _entries(EVALUATION_RESULTS),
        "organization_kinds": _entries(ORGANIZATION_KINDS),
        "partner_roles": _entries(PARTNER_ROLES),
        "registration_types": _entries({code: CARRIER_TYPES[code] for code in REGISTRATION_TYPES}),
        "report_statuses": _entries(REPORT_STATUSES),
        "report_metrics": {kind: _entries(metrics) for kind, metrics in REPORT_METRICS.items()},
        "target_metrics": _entries(TARGET_METRICS),
        "target_states": _entries(TARGET_STATES),
        "alert_kinds": _entries(ALERT_KINDS),
        "deadline_kinds": _entries({name: rule.label for name, rule in deadlines.RULES.items()}),
        "member_roles": _entries(MEMBER_ROLES),
        "member_outcomes": _entries(MEMBER_OUTCOMES),
        "roles": _entries(ROLE_LABELS),
        "change_actions": _entries(CHANGE_ACTION_LABELS),
        "event_types": _entries(EVENT_TYPES),
        "webhook_formats": _entries(WEBHOOK_FORMATS),
        "delivery_statuses": _entries(DELIVERY_STATUS_LABELS),
        "towns": _entries({name: name for name in places.towns()}),
    }
