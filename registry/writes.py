"""Writes guarded by ``If-Match``: compare and write in one transaction, only what changed.

Every edit or deletion of a versioned object goes through :func:`guarded`:

1. it opens the write transaction (:func:`registry.db.write_transaction`: ``BEGIN IMMEDIATE``
   on SQLite, the row locked ``FOR UPDATE`` on PostgreSQL);
2. reads the row again under that lock, never trusting a row read before the transaction;
3. compares its version with the one the client read (``expected``, parsed from
   ``If-Match`` by the view; ``None`` for ``If-Match: *``) and refuses with 412 when they
   differ;
4. lets the domain function change the row, and :meth:`Edit.save` writes only the columns
   that changed with ``version = version + 1`` in one ``UPDATE … WHERE id = ? AND version = ?``
   (412 again should no row match, a second guard should a caller ever skip the lock).

So of two writers holding the same ETag exactly one succeeds (SPEC §4), and a milestone
recorded between a client's read and its PATCH is never undone by a stale row.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

import peewee as pw

from registry.clock import utcnow
from registry.db import locked, write_transaction
from registry.errors import DomainError

#: ``expected`` for ``If-Match: *``: any current version will do.
ANY_VERSION = None

#: Columns :meth:`Edit.save` writes itself.
_BOOKKEEPING = frozenset({"id", "version", "updated_at"})


def stale(what: str, object_id: int, version: int) -> DomainError:
    """The 412 answer for a write based on another version than the stored one."""
    return DomainError(
        412,
        f"The {what} {object_id} changed since you read it (it is at version {version} now); "
        "read it again and repeat your change with its new ETag.",
    )


def check_version(row: pw.Model, expected: Collection[int] | None, what: str) -> None:
    """412 unless ``row`` is at one of the ``expected`` versions (``None``: any version)."""
    if expected is not None and row.version not in expected:
        raise stale(what, row.id, row.version)


class Edit:
    """A row read under the write lock, and the write of what the domain changed on it."""

    def __init__(self, row: pw.Model, what: str):
        self.row = row
        self.what = what
        self._version = row.version
        self._original = copy.deepcopy(row.__data__)

    def changed(self) -> dict[pw.Field, Any]:
        """The columns whose value differs from the row as read."""
        fields = type(self.row)._meta.fields
        data = self.row.__data__
        return {
            field: data.get(name)
            for name, field in fields.items()
            if name not in _BOOKKEEPING and data.get(name) != self._original.get(name)
        }

    def save(self) -> pw.Model:
        """Write the changed columns, ``version + 1`` and ``updated_at`` in one statement that
        matches only the version read (412 otherwise); return the row, now current."""
        model = type(self.row)
        now = utcnow()
        written = (
            model.update(
                {**self.changed(), model.version: model.version + 1, model.updated_at: now}
            )
            .where((model.id == self.row.id) & (model.version == self._version))
            .execute()
        )
        if written != 1:
            raise stale(self.what, self.row.id, self._version)
        self._version += 1
        self.row.version = self._version
        self.row.updated_at = now
        self._original = copy.deepcopy(self.row.__data__)
        return self.row


@contextmanager
def guarded(
    model: type[pw.Model],
    object_id: int,
    expected: Collection[int] | None,
    what: str,
    query: pw.ModelSelect | None = None,
) -> Iterator[Edit]:
    """The write transaction of an ``If-Match`` write, yielding the row re-read under the lock.

    ``query`` reads the row the domain needs (e.g. with its joins) once it is locked; 404
    when the row is gone, 412 when its version is not ``expected``. Read the audit record's
    ``before`` from ``edit.row`` inside the block, and end with ``edit.save()`` (or a delete).
    """
    with write_transaction():
        current = locked(model.select(model.id, model.version).where(model.id == object_id))
        current = current.first()
        if current is None:
            raise DomainError(404, f"No {what} {object_id}.")
        check_version(current, expected, what)
        row = (query if query is not None else model.select()).where(model.id == object_id).get()
        yield Edit(row, what)


def bump_versions(model: type[pw.Model], ids: Collection[int]) -> int:
    """Move the version of the rows ``ids`` on without changing a column: their representation
    changed through another table (e.g. a carrier's open alerts), so their ETags must change."""
    if not ids:
        return 0
    return model.update(version=model.version + 1).where(model.id.in_(sorted(set(ids)))).execute()
