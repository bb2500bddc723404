"""The database: declared unbound at import, bound by the app factory, one connection per request.

Also the schema migrations: an ordered list of steps, each applied once and recorded in
``schema_version`` so that ``registry init-db`` is idempotent and ``/readyz`` can tell a
stale schema.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from urllib.parse import unquote, urlparse

import peewee as pw

from registry.clock import utcnow  # noqa: F401 - the models' default, re-exported

database = pw.DatabaseProxy()


class BaseModel(pw.Model):
    """Base of every model: bound to the proxy; ``id``, ``created_at`` and ``updated_at``."""

    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        database = database
        legacy_table_names = False


def make_database(url: str) -> pw.Database:
    """Build a database from a URL (``sqlite:///file`` or ``postgresql://…``)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ":memory:"
        if path not in ("", ":memory:"):
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return pw.SqliteDatabase(
            path or ":memory:",
            pragmas={"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10_000},
            timeout=10,
        )
    if parsed.scheme in ("postgresql", "postgres"):
        return pw.PostgresqlDatabase(
            unquote(parsed.path.lstrip("/")),
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname,
            port=parsed.port or 5432,
        )
    raise ValueError(f"Unsupported database URL scheme: {parsed.scheme!r}")


def bind(url: str) -> pw.Database:
    """Bind the module's database proxy to the database at ``url``."""
    db = make_database(url)
    database.initialize(db)
    return db


def is_postgres() -> bool:
    return isinstance(database.obj, pw.PostgresqlDatabase)


def days_until(column, day):
    """SQL for the number of days from ``day`` to the date ``column`` (negative once past)."""
    if is_postgres():
        return column - day  # date - date is an integer on PostgreSQL
    return pw.fn.CAST(
        pw.NodeList(
            (pw.fn.julianday(column) - pw.fn.julianday(day.isoformat()), pw.SQL("AS INTEGER"))
        )
    )


def not_for_index(column):
    """``column`` in a term SQLite must not pick an index for (the unary ``+`` of its query
    planner docs), so that a more selective index wins; PostgreSQL plans from statistics
    and gets the column unchanged."""
    if is_postgres():
        return column
    return pw.NodeList((pw.SQL("+"), column), glue="")


def apply_sort(query: pw.ModelSelect, sort: str | None, columns: dict, default) -> pw.ModelSelect:
    """Order by ``sort`` (``field`` or ``-field``, comma-separated), ``id`` as the tie-breaker."""
    order = []
    for key in filter(None, (sort or "").split(",")):
        descending = key.startswith("-")
        column = columns[key.lstrip("-")]
        order.append(column.desc(nulls="LAST") if descending else column.asc(nulls="LAST"))
    if not order:
        order = [default]
    model = query.model
    return query.order_by(*order, model.id)


def locked(query):
    """``query`` with ``FOR UPDATE`` on PostgreSQL (SQLite serialises writers by itself)."""
    return query.for_update() if is_postgres() else query


def claimable(query):
    """``query`` with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL: concurrent workers each take
    other rows instead of waiting (use inside :func:`write_transaction`)."""
    return query.for_update(skip_locked=True) if is_postgres() else query


def write_transaction():
    """A transaction that holds the write lock from its start: ``BEGIN IMMEDIATE`` on SQLite,
    so two processes never both read rows they are about to claim (on PostgreSQL the rows
    are locked by :func:`claimable`)."""
    if is_postgres():
        return database.atomic()
    return database.atomic(lock_type="IMMEDIATE")


def init_app(app) -> None:
    """Open a connection per request and close it at teardown."""

    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close(exc):
        if not database.is_closed():
            database.close()


# --- migrations -------------------------------------------------------------------------


class SchemaVersion(pw.Model):
    """One row per applied migration step."""

    version = pw.IntegerField(primary_key=True)
    description = pw.TextField()
    applied_at = pw.DateTimeField(default=utcnow)

    class Meta:
        database = database
        table_name = "schema_version"


Migration = tuple[int, str, Callable[[], None]]


def migrations() -> list[Migration]:
    """The ordered migration steps (imported lazily: models import this module)."""
    from registry.migrations import MIGRATIONS

    return MIGRATIONS


def latest_version() -> int:
    return max(version for version, _, _ in migrations())


def current_version() -> int:
    """The newest applied step, 0 on an empty database."""
    if not SchemaVersion.table_exists():
        return 0
    return SchemaVersion.select(pw.fn.MAX(SchemaVersion.version)).scalar() or 0


def upgrade() -> list[int]:
    """Apply every pending migration step, each in its own transaction; return those applied."""
    SchemaVersion.create_table(safe=True)
    applied = []
    for version, description, step in migrations():
        if SchemaVersion.get_or_none(SchemaVersion.version == version):
            continue
        with database.atomic():
            step()
            SchemaVersion.create(version=version, description=description)
        applied.append(version)
    return applied
