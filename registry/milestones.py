"""Recording and voiding milestones: the lifecycle applied to stored carriers, atomically.

A carrier's lifecycle columns are always the replay of its non-voided milestones in date
order (SPEC §2.4): recording one, even one dated before others, and voiding one both replay
the whole history inside the write's transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import peewee as pw

from registry import alerts, audit, carriers, clock, lifecycle, state
from registry.db import locked, utcnow, write_transaction
from registry.errors import DomainError
from registry.models import Carrier, Milestone

log = logging.getLogger(__name__)

MILESTONE_FIELDS = (*state.REPLAY_FIELDS, "document_ref", "note")


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
    state.store_periods(carrier, milestones)


def rebuild(carrier_id: int) -> None:
    """Replay a carrier's history onto its stored columns (after a change of the rules)."""
    with write_transaction():
        carrier = _lock(carrier_id)
        _rebuild(carrier, state.active_milestones(carrier.id))


def rebuild_all() -> int:
    """Replay every carrier that has a history (``registry rebuild``, and ``registry init-db``
    after a migration step that asked for it), then rewrite every carrier's stored periods;
    return how many were replayed.

    A history today's rules refuse (a level change to the same level, say) keeps its stored
    state, with a warning, rather than block the upgrade.
    """
    replayed = 0
    with_history = Milestone.select(Milestone.carrier).distinct().order_by(Milestone.carrier)
    for (carrier_id,) in with_history.tuples():
        try:
            rebuild(carrier_id)
            replayed += 1
        except lifecycle.LifecycleError as error:
            log.warning("Carrier %s kept as stored: %s", carrier_id, error)
    with write_transaction():
        state.store_all_periods()
    return replayed


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
    reconcile: bool = True,
) -> Milestone:
    """Append a milestone and apply it.

    422 (DomainError) for a malformed milestone (future date, a field its kind does not take);
    409 (LifecycleError) when the status machine refuses it on its date, or when a milestone
    dated before later ones would make one of those invalid. A back-dated milestone is placed
    in date order and the whole history replayed, so the carrier always equals the replay.
    A caller whose write records a milestone as one part of it (the registration review)
    names its own ``audit_action`` and adds ``audit_extra`` to the record's ``after``, so
    that the write still leaves exactly one audit record. The carrier's alerts are
    reconciled for today in the same transaction (``reconcile=False``: the caller, the scan,
    reconciles them itself).
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
        if reconcile:
            alerts.reconcile_carriers([carrier.id], moved=[carrier.id])
        after = carriers.snapshot(carriers.load(carrier.id))
        audit.record_change(
            audit_action,
            "carrier",
            carrier.id,
            before,
            {**after, "milestone": as_dict(milestone), **(audit_extra or {})},
            actor=actor,
        )
        audit.emit(
            "milestone.recorded",
            {"milestone": as_dict(milestone), "carrier": after},
            carrier_id=carrier.id,
        )
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
        alerts.reconcile_carriers([carrier.id], moved=[carrier.id])
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
            carrier_id=carrier.id,
        )
    return milestone


#: The actor of the expiries the scan records.
EXPIRY_ACTOR = "system (scan)"


def expire_lapsed(rows: list, day: dt.date, rules: alerts.Rules) -> tuple[list[int], list[int]]:
    """Record ``expired`` for the carriers of ``rows`` (read with ``alerts.CARRIER_COLUMNS``)
    whose validity lapsed before ``day``, dated the day after ``valid_until`` (never before
    a milestone already recorded, so the history replays in order). Carriers whose policy
    does not lapse by the calendar are left alone.

    Returns the ids expired and the ids the lifecycle refused to expire (their history is
    inconsistent: logged, never stopping the others). Alerts are left to the caller.
    """
    lapsed = [
        row for row in rows if lifecycle.lapsed(row.status, row.valid_until, day, rules.lapses(row))
    ]
    if not lapsed:
        return [], []
    latest = dict(
        Milestone.select(Milestone.carrier, pw.fn.MAX(Milestone.occurred_on))
        .where(Milestone.carrier.in_([row.id for row in lapsed]) & (Milestone.voided == False))  # noqa: E712
        .group_by(Milestone.carrier)
        .tuples()
    )
    expired, failures = [], []
    for row in lapsed:
        occurred_on = max(
            filter(
                None,
                [lifecycle.expiry_date(row.valid_until), alerts.as_date(latest.get(row.id))],
            )
        )
        note = (
            f"Validity ended on {row.valid_until.isoformat()} without a passing evaluation "
            f"(scan of {day.isoformat()})."
        )
        try:
            record_milestone(
                row,
                {"kind": "expired", "occurred_on": occurred_on, "note": note},
                actor=EXPIRY_ACTOR,
                reconcile=False,
            )
        except (lifecycle.LifecycleError, DomainError) as error:
            # A history the lifecycle refuses must not stop the scan of every other carrier.
            log.warning("Carrier %s could not be expired: %s", row.id, error)
            failures.append(row.id)
            continue
        expired.append(row.id)
    return expired, failures
