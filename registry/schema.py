"""The migration runner: which steps of ``registry.migrations`` a database has, and applying
the others (``registry init-db``).

Each step is applied once, in its own transaction, and recorded in ``schema_version``.
Steps run sorted by version, whatever order the list is written in. A database is current
when **every** step is recorded (the set of applied versions contains every step), not
when the highest recorded version is the latest: a step merged late under a lower number
than one already applied still counts as missing, and ``/readyz`` says so.

A step may ask for a replay of every carrier's stored state from its milestones
(``Step.rebuild``): the steps themselves never import live domain code, so the replay is
done afterwards by ``registry init-db`` (or ``registry rebuild``), with today's rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import peewee as pw

from registry.clock import utcnow
from registry.db import database, is_postgres


class SchemaVersion(pw.Model):
    """One row per applied migration step."""

    version = pw.IntegerField(primary_key=True)
    description = pw.TextField()
    applied_at = pw.DateTimeField(default=utcnow)

    class Meta:
        database = database
        table_name = "schema_version"


class Step(NamedTuple):
    """A migration step: ``apply`` changes the schema (and data) with frozen definitions
    only; ``rebuild`` asks for a replay of every carrier afterwards."""

    version: int
    description: str
    apply: Callable[[], None]
    rebuild: bool = False


def steps() -> list[Step]:
    """Every migration step, sorted by version (entries may be plain 3-tuples)."""
    from registry.migrations import MIGRATIONS

    found = sorted((Step(*entry) for entry in MIGRATIONS), key=lambda step: step.version)
    versions = [step.version for step in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"Two migration steps share a version: {versions}")
    return found


def latest_version() -> int:
    return max(step.version for step in steps())


def applied_versions() -> set[int]:
    """The versions recorded in ``schema_version`` (empty on a new database)."""
    if not SchemaVersion.table_exists():
        return set()
    return {version for (version,) in SchemaVersion.select(SchemaVersion.version).tuples()}


def current_version() -> int:
    """The newest applied step, 0 on an empty database (informative: readiness is
    :func:`pending_versions`)."""
    return max(applied_versions(), default=0)


def pending_versions() -> list[int]:
    """The steps not yet applied, in order: empty when the schema is current."""
    applied = applied_versions()
    return [step.version for step in steps() if step.version not in applied]


def is_current() -> bool:
    return not pending_versions()


def upgrade(up_to: int | None = None) -> list[int]:
    """Apply every pending step (up to version ``up_to`` when given), each in its own
    transaction; return the versions applied, in order.

    On SQLite foreign keys are switched off around each step (a step that rebuilds a table
    must be able to drop the old one: SQLite's documented 12-step procedure) and checked
    before the step commits.
    """
    SchemaVersion.create_table(safe=True)
    done = applied_versions()
    applied = []
    for step in steps():
        if step.version in done or (up_to is not None and step.version > up_to):
            continue
        _apply(step)
        applied.append(step.version)
    return applied


def needs_rebuild(applied: list[int]) -> bool:
    """Whether one of the steps just applied asked for a replay of every carrier."""
    return any(step.rebuild for step in steps() if step.version in applied)


def _apply(step: Step) -> None:
    if is_postgres():
        with database.atomic():
            step.apply()
            SchemaVersion.create(version=step.version, description=step.description)
        return
    database.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        with database.atomic():
            step.apply()
            broken = database.execute_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"Migration {step.version} breaks foreign keys: {broken[:5]}")
            SchemaVersion.create(version=step.version, description=step.description)
    finally:
        database.execute_sql("PRAGMA foreign_keys = ON")
