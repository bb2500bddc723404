"""Evaluation policies (SPEC §3.1): reading them and editing them, which moves the derived
dates of every carrier they govern in the same transaction."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from registry import alerts, audit, state, writes
from registry.models import Carrier, EvaluationPolicy

EDITABLE_FIELDS = (
    "annual_assessment",
    "term_years",
    "report_due",
    "warn_days",
    "lapses",
    "source",
    "note",
    "roster_rules",
)


def as_dict(policy: EvaluationPolicy) -> dict[str, Any]:
    """A policy as the API shows it."""
    return {
        "id": policy.id,
        "type": policy.type,
        "level": policy.level,
        **{name: getattr(policy, name) for name in EDITABLE_FIELDS},
        "created_at": policy.created_at,
        "updated_at": policy.updated_at,
    }


def find(carrier_type: str, level: str) -> EvaluationPolicy | None:
    """The policy of a type × level, or None."""
    return EvaluationPolicy.get_or_none(
        (EvaluationPolicy.type == carrier_type) & (EvaluationPolicy.level == level)
    )


def update_policy(
    policy_id: int, data: dict, expected: Collection[int] | None = writes.ANY_VERSION
) -> tuple[EvaluationPolicy, list[int]]:
    """Edit a policy (412 unless it is at an ``expected`` version) and recompute, in bulk and
    in the same transaction, the stored dates of the carriers of its type × level; return it
    and the ids of the carriers whose dates moved.

    One audit record (the policy before and after, with the carriers it moved).
    """
    with writes.guarded(EvaluationPolicy, policy_id, expected, "evaluation policy") as edit:
        policy = edit.row
        before = as_dict(policy)
        for name in EDITABLE_FIELDS:
            if name in data:
                setattr(policy, name, data[name])
        edit.save()
        moved = state.recompute_dates(policy.type, policy.level)
        # Dates, windows and lapsing all decide alerts: every carrier governed follows.
        governed = Carrier.select(Carrier.id).where(
            (Carrier.type == policy.type) & (Carrier.level == policy.level)
        )
        alerts.reconcile_carriers(carrier_id for (carrier_id,) in governed.tuples())
        audit.record_change(
            "update",
            "evaluation_policy",
            policy.id,
            before,
            {**as_dict(policy), "recomputed_carriers": moved},
        )
    return policy, moved
