"""Recording and voiding milestones: the lifecycle applied to stored carriers, atomically.

A carrier's lifecycle columns are always the replay of its non-voided milestones in date
order (SPEC §2.4): recording one, even one dated before others, and voiding one both replay
the whole history inside the write's transaction.
"""

from __future__ import annotations

from typing import Any

from registry import audit, carriers, clock, lifecycle, state
from registry.db import locked, utcnow, write_transaction
from registry.errors import DomainError
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


def as_dict(milestone: Milestone) -> dict[str, Any]:
    """A milestone as the API shows it."""
    return {
        "id": milestone.id,
        "carrier_id": milestone.carrier_id,
        **{name: getattr(milestone, name) for name in MILESTONE_FIELDS},
        "voided": milestone.voided,
        "void_reason": milestone.void_reason,
        "recorded_by": milestone.recorded_by,
        "created_at": milestone.created_at,
        "updated_at": milestone.updated_at,
    }


def history(carrier_id: int):
    """Every milestone of a carrier, voided ones included, in the order they happened."""
    return (
        Milestone.select()
        .where(Milestone.carrier == carrier_id)
        .order_by(Milestone.occurred_on, Milestone.id)
    )


def _rebuild(carrier: Carrier, milestones: list) -> None:
    """Set ``carrier``'s lifecycle columns by replaying ``milestones`` and save it."""
    state.set_state(carrier, state.replay_state(carrier, milestones))
    state.refresh_dates(carrier)
    carrier.version += 1
    carrier.updated_at = utcnow()
    carrier.save()


def rebuild(carrier_id: int) -> None:
    """Replay a carrier's history onto its stored columns (after a change of the rules)."""
    with write_transaction():
        carrier = _lock(carrier_id)
        _rebuild(carrier, state.active_milestones(carrier.id))


def _lock(carrier_id: int) -> Carrier:
    """The carrier row, locked (PostgreSQL) so that two histories of one carrier never mix."""
    return locked(Carrier.select().where(Carrier.id == carrier_id)).get()


def record_milestone(
    carrier: Carrier,
    data: dict,
    *,
    actor: str | None = None,
    audit_action: str = "milestone",
    audit_extra: dict | None = None,
) -> Milestone:
    """Append a milestone and apply it.

    422 (DomainError) for a malformed milestone (future date, a field its kind does not take);
    409 (LifecycleError) when the status machine refuses it on its date, or when a milestone
    dated before later ones would make one of those invalid. A back-dated milestone is placed
    in date order and the whole history replayed, so the carrier always equals the replay.
    A caller whose write records a milestone as one part of it (the registration review)
    names its own ``audit_action`` and adds ``audit_extra`` to the record's ``after``, so
    that the write still leaves exactly one audit record.
    """
    actor = actor or audit.current_actor()
    data = {name: data.get(name) for name in MILESTONE_FIELDS}
    errors = lifecycle.check_milestone(data, clock.today())
    if errors:
        raise DomainError(422, "The request body has invalid fields.", errors)
    with write_transaction():
        carrier = _lock(carrier.id)
        before = carriers.snapshot(carriers.load(carrier.id))
        milestone = Milestone(carrier=carrier.id, recorded_by=actor, **data)
        past = state.active_milestones(carrier.id)
        on = milestone.occurred_on
        ordered = [m for m in past if m.occurred_on <= on]
        later = [m for m in past if m.occurred_on > on]
        try:
            _rebuild(carrier, [*ordered, milestone, *later])
        except lifecycle.ReplayError as error:
            if error.milestone is milestone:
                raise
            refused = error.milestone
            raise lifecycle.LifecycleError(
                f"Carrier {carrier.id}: {_article(milestone.kind)} {milestone.kind} on {on} "
                f"would make the later {refused.kind} of {refused.occurred_on} (milestone "
                f"{refused.id}) invalid: {error}"
            ) from error
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


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def void_milestone(milestone: Milestone, reason: str, *, actor: str | None = None) -> Milestone:
    """Mark a milestone void and replay the carrier from the remaining ones.

    Refused (409) when it is void already, or when the remaining history is not a valid
    sequence, e.g. voiding the accreditation that later evaluations depend on. Emits
    ``carrier.updated``: the carrier's state is what changed.
    """
    actor = actor or audit.current_actor()
    with write_transaction():
        carrier = _lock(milestone.carrier_id)
        milestone = Milestone.get_by_id(milestone.id)
        if milestone.voided:
            raise DomainError(409, f"Milestone {milestone.id} is already void.")
        before = carriers.snapshot(carriers.load(carrier.id))
        remaining = [m for m in state.active_milestones(carrier.id) if m.id != milestone.id]
        try:
            _rebuild(carrier, remaining)
        except lifecycle.ReplayError as error:
            raise DomainError(
                409,
                f"Milestone {milestone.id} cannot be voided: without it the later "
                f"{error.milestone.kind} of {error.milestone.occurred_on} (milestone "
                f"{error.milestone.id}) is invalid: {error}",
            ) from error
        milestone.voided = True
        milestone.void_reason = reason
        milestone.updated_at = utcnow()
        milestone.save()
        after = carriers.snapshot(carriers.load(carrier.id))
        changed = sorted(key for key in after if after[key] != before[key])
        audit.record_change(
            "void",
            "carrier",
            carrier.id,
            before,
            {**after, "milestone": as_dict(milestone)},
            actor=actor,
        )
        audit.emit(
            "carrier.updated",
            {"carrier": after, "changed": changed, "voided_milestone": as_dict(milestone)},
        )
    return milestone
