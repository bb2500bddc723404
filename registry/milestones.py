"""Recording and voiding milestones: the lifecycle applied to stored carriers, atomically."""

from __future__ import annotations

from registry import audit, carriers, lifecycle
from registry.carriers import DomainError
from registry.db import database, locked, utcnow
from registry.models import Carrier, Milestone

MILESTONE_FIELDS = (
    "kind",
    "occurred_on",
    "level",
    "result",
    "certificate_no",
    "valid_until",
    "rectify_by",
    "document_ref",
    "note",
)


def as_dict(milestone: Milestone) -> dict:
    """A milestone as the API shows it."""
    return {
        "id": milestone.id,
        "carrier_id": milestone.carrier_id,
        **{name: getattr(milestone, name) for name in MILESTONE_FIELDS},
        "voided": milestone.voided,
        "void_reason": milestone.void_reason,
        "recorded_by": milestone.recorded_by,
        "created_at": milestone.created_at,
    }


def _rebuild(carrier: Carrier, milestones: list) -> None:
    """Set ``carrier``'s lifecycle columns by replaying ``milestones`` and save it."""
    carriers.set_state(carrier, carriers.replay_state(carrier, milestones))
    carriers.refresh_dates(carrier)
    carrier.version += 1
    carrier.updated_at = utcnow()
    carrier.save()


def record_milestone(
    carrier: Carrier,
    data: dict,
    *,
    actor: str | None = None,
    audit_action: str = "milestone",
    audit_extra: dict | None = None,
) -> Milestone:
    """Append a milestone and apply it (409 via LifecycleError when the status machine refuses).

    A milestone dated before later ones is placed in date order and the whole history is
    replayed, so the carrier always equals the replay of its milestones. A caller whose
    write records a milestone as one part of it (the registration review) names its own
    ``audit_action`` and adds ``audit_extra`` to the record's ``after``, so that the write
    still leaves exactly one audit record.
    """
    actor = actor or audit.current_actor()
    with database.atomic():
        # Lock the row (PostgreSQL) so two milestones of one carrier never interleave.
        carrier = locked(Carrier.select().where(Carrier.id == carrier.id)).get()
        before = carriers.snapshot(carriers.load(carrier.id))
        milestone = Milestone(
            carrier=carrier.id,
            recorded_by=actor,
            **{name: data.get(name) for name in MILESTONE_FIELDS},
        )
        history = carriers.active_milestones(carrier.id)
        later = [m for m in history if m.occurred_on > milestone.occurred_on]
        if later:
            ordered = [m for m in history if m.occurred_on <= milestone.occurred_on]
            ordered += [milestone, *later]
        else:
            # Apply to the current state first so the 409 names the status as it stands.
            lifecycle.apply(
                carriers.state_of(carrier),
                milestone,
                carriers.policy_for(carrier.type, data.get("level") or carrier.level),
                carrier.id,
            )
            ordered = [*history, milestone]
        _rebuild(carrier, ordered)
        milestone.save()
        after = carriers.snapshot(carriers.load(carrier.id))
        audit.record_change(
            audit_action,
            "carrier",
            carrier.id,
            before,
            {**after, "milestone": as_dict(milestone), **(audit_extra or {})},
            actor=actor,
        )
        audit.emit("milestone.recorded", {"milestone": as_dict(milestone), "carrier": after})
    return milestone


def void_milestone(milestone: Milestone, reason: str) -> Milestone:
    """Mark a milestone void and replay the carrier from the remaining ones.

    Refused (409) when the remaining history is not a valid sequence, e.g. voiding the
    accreditation that later evaluations depend on.
    """
    with database.atomic():
        if milestone.voided:
            raise DomainError(409, f"Milestone {milestone.id} is already void.")
        carrier = Carrier.get_by_id(milestone.carrier_id)
        before = carriers.snapshot(carriers.load(carrier.id))
        remaining = [m for m in carriers.active_milestones(carrier.id) if m.id != milestone.id]
        try:
            _rebuild(carrier, remaining)
        except lifecycle.LifecycleError as error:
            raise DomainError(
                409,
                f"Milestone {milestone.id} cannot be voided: without it the history is "
                f"not valid ({error})",
            ) from error
        milestone.voided = True
        milestone.void_reason = reason
        milestone.updated_at = utcnow()
        milestone.save()
        after = carriers.snapshot(carriers.load(carrier.id))
        audit.record_change(
            "void", "carrier", carrier.id, before, {**after, "milestone": as_dict(milestone)}
        )
    return milestone
