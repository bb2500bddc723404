"""The database: declared unbound at import, bound by the app factory, one connection per request.

Also how writes open their transaction (:func:`write_transaction`: ``BEGIN IMMEDIATE`` on
SQLite), how a best-effort write gives up instead of waiting (:func:`try_write`), and which
database errors mean "unavailable, retry later" (:func:`unavailable`: answered 503 with
``Retry-After`` by the API) rather than a bug. The schema migrations are in
``registry.schema`` (the runner) and ``registry.migrations`` (the steps).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import logging
import os
import re
import select
import sqlite3
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import peewee as pw
from flask import g, has_app_context
from playhouse.pool import (
    MaxConnectionsExceeded,
    PooledDatabase,
    PooledPostgresqlDatabase,
    PooledSqliteDatabase,
)

from registry.clock import utcnow

database = pw.DatabaseProxy()
log = logging.getLogger(__name__)

#: How long a SQLite writer waits for the write lock before "database is locked" (ms),
#: unless the ``DB_BUSY_TIMEOUT_MS`` setting says otherwise.
BUSY_TIMEOUT_MS = 10_000


class IdField(pw.AutoField):
    """The ``id`` of every table: ``INTEGER PRIMARY KEY AUTOINCREMENT`` on SQLite, so that an
    id is never handed out twice, even after the row with the highest id was deleted (a
    token naming organisation 7 must never come to mean a new organisation 7). PostgreSQL
    gets its plain ``SERIAL``: a sequence never goes back by itself."""

    def ddl(self, ctx):
        node_list = super().ddl(ctx)
        if isinstance(database.obj, pw.SqliteDatabase):
            return pw.NodeList((node_list, pw.SQL("AUTOINCREMENT")))
        return node_list


class BaseModel(pw.Model):
    """Base of every model: bound to the proxy; ``id``, ``created_at`` and ``updated_at``."""

    id = IdField()
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        database = database
        legacy_table_names = False


#: Connections each process keeps open for reuse, unless the ``DB_POOL_SIZE`` setting says
#: otherwise; and how long an idle one is kept (``DB_POOL_RECYCLE_SECONDS``).
POOL_SIZE = 8
POOL_RECYCLE_SECONDS = 300


def make_database(
    url: str,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    pool_size: int = POOL_SIZE,
    recycle_seconds: int = POOL_RECYCLE_SECONDS,
) -> pw.Database:
    """Build a database from a URL (``sqlite:///file`` or ``postgresql://…``); a SQLite
    writer waits up to ``busy_timeout_ms`` for the write lock.

    Connections are pooled (``playhouse.pool``): a request takes one at its start and gives
    it back at its end, so that neither a PostgreSQL connection nor SQLite's pragmas are set
    up per request. ``pool_size`` connections at most per process (a gunicorn sync worker
    uses one; a request waiting for a free one gives up with 503 after the busy timeout);
    an idle connection older than ``recycle_seconds`` is closed instead of reused. A
    PostgreSQL connection returned inside a transaction is rolled back first; a connection
    a failed request found broken is closed, never pooled (see :func:`discard_connection`).
    """
    parsed = urlparse(url)
    pool = {
        "max_connections": pool_size,
        "stale_timeout": recycle_seconds,
        "timeout": max(1, busy_timeout_ms // 1000),
    }
    if parsed.scheme == "sqlite":
        path = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ":memory:"
        if path not in ("", ":memory:"):
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return PooledSqliteDatabase(
            path or ":memory:",
            # The pool's ``timeout`` is its wait for a free connection: the busy_timeout
            # pragma is SQLite's wait for the write lock. A pooled connection may serve
            # another thread after its first one gave it back.
            pragmas={"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": busy_timeout_ms},
            check_same_thread=False,
            **pool,
        )
    if parsed.scheme in ("postgresql", "postgres"):
        return PooledPostgres(
            unquote(parsed.path.lstrip("/")),
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname,
            port=parsed.port or 5432,
            **pool,
        )
    raise ValueError(f"Unsupported database URL scheme: {parsed.scheme!r}")


class PooledPostgres(PooledPostgresqlDatabase):
    """peewee's PostgreSQL pool, checking an idle connection it hands out without a round
    trip when it can.

    The pool sends ``SELECT 1`` before handing out an idle connection, to find one the
    server closed: a round trip and a statement on every request (a tenth of the worker's
    time for one carrier). A server that closes a connection (a restart, a crash,
    ``pg_terminate_backend``) sends its reason and closes the socket, which then reads as
    ready; nothing else arrives on an idle connection (the registry does not ``LISTEN``).
    So the ``SELECT 1`` is sent only when the socket has something to read; otherwise the
    connection is handed out as it is. A connection cut without a word (a network gone) is
    found by its first statement, as it would be a moment after a ``SELECT 1``."""

    def _connect(self):
        """A pooled connection; a new one first asks for generic plans when statements run
        prepared (see :func:`_run`): without it PostgreSQL plans again on every ``EXECUTE``
        of a statement reading a list of ids (it rates the plan for one id cheaper than one
        for any number; 0.45 of the 0.55 ms of the reads that go with one carrier). Plain
        SQL is planned per call as ever, the list's statements among it (``select_once``'s
        ``plan_each_time``). A ``SET`` on the session rather than a startup option, which
        PgBouncer refuses unless told to ignore it."""
        conn = super()._connect()
        if _prepare and conn not in _GENERIC_PLANS:
            with conn.cursor() as cursor:  # autocommit: the setting holds for the session
                cursor.execute("SET plan_cache_mode = force_generic_plan")
            _GENERIC_PLANS.add(conn)
        return conn

    def _is_closed(self, conn) -> bool:
        from psycopg2.extensions import TRANSACTION_STATUS_IDLE

        if conn.closed:
            return True
        if conn.get_transaction_status() == TRANSACTION_STATUS_IDLE:
            try:
                poller = select.poll()  # poll, not select: any descriptor number
                poller.register(conn, select.POLLIN)
                quiet = not poller.poll(0)
            except (OSError, ValueError):  # no usable socket: ask the server
                quiet = False
            if quiet:
                return False
        return super()._is_closed(conn)


def bind(
    url: str,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    pool_size: int = POOL_SIZE,
    recycle_seconds: int = POOL_RECYCLE_SECONDS,
    prepare: bool = True,
) -> pw.Database:
    """Bind the module's database proxy to the database at ``url``, closing the idle pooled
    connections of the database it was bound to before; ``prepare``: whether statements
    built once run as prepared statements on PostgreSQL (:func:`_run`)."""
    global _prepare
    _prepare = prepare
    previous = database.obj
    if isinstance(previous, PooledDatabase):
        previous.close_idle()
    db = make_database(url, busy_timeout_ms, pool_size, recycle_seconds)
    database.initialize(db)
    return db


def close_all() -> None:
    """Close every connection of the bound database, the idle pooled ones too (a SQLite
    file is whole, its write-ahead log checkpointed, once its last connection closed: do
    this before copying the file)."""
    if isinstance(database.obj, PooledDatabase):
        database.obj.close_all()
    elif database.obj is not None and not database.is_closed():
        database.close()


def discard_connection() -> None:
    """Close this thread's connection for good instead of returning it to the pool (after
    an error that says the database went away: the next request connects afresh)."""
    if isinstance(database.obj, PooledDatabase) and not database.is_closed():
        database.obj.manual_close()


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


def among(column, values) -> pw.Expression:
    """``column IN values`` with the values bound as one parameter (a JSON array read by
    ``json_each`` on SQLite, an array on PostgreSQL): a page's ids cost one bound value,
    not one each (building and binding fifty parameters is most of such a query's cost)."""
    values = list(values)
    if not values:
        return column.in_([])  # false, without an array of unknown type
    if is_postgres():
        return column == pw.fn.ANY(pw.Value(values, unpack=False))
    return pw.Expression(
        column, pw.OP.IN, pw.SQL("(SELECT value FROM json_each(?))", [json.dumps(values)])
    )


#: ``adapt`` methods that return what the database drivers give unchanged (an ``int`` for an
#: integer column, a ``str`` for a text column): such columns need no conversion per row.
_UNCHANGED = {pw.IntegerField.adapt, pw._StringField.adapt}


def converter(field: pw.Field | None):
    """How to turn a value of ``field``'s column, as the driver gives it, into what peewee
    gives (``field.python_value``), or None when it is given unchanged."""
    if field is None:
        return None
    target = field.rel_field if isinstance(field, pw.ForeignKeyField) else field
    kind = type(target)
    if kind.python_value is pw.Field.python_value and kind.adapt in _UNCHANGED:
        return None
    if kind.python_value is pw.Field.python_value and kind.adapt is pw.DateTimeField.adapt:
        return _from_iso(field.python_value, dt.datetime.fromisoformat, (19, 26))
    if kind.python_value is pw.Field.python_value and kind.adapt is pw.DateField.adapt:
        return _from_iso(field.python_value, dt.date.fromisoformat, (10,))
    return field.python_value


def _from_iso(python_value, parse, lengths: tuple[int, ...]):
    """``python_value`` for SQLite's stored text, the forms peewee writes
    (``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM:SS[.ffffff]``) parsed by ``fromisoformat`` (C)
    rather than by peewee's ``strptime`` over each format in turn (a tenth of a listed
    page's CPU); anything else, and the drivers' own date objects, through peewee."""

    def convert(value):
        if (
            type(value) is str
            and len(value) in lengths
            and value[10:11] in ("", " ")
            and value[19:20] in ("", ".")
            and value[20:].isdigit() is (len(value) > 20)
        ):
            try:
                return parse(value)
            except ValueError:  # no such day: peewee gives the text back
                pass
        return python_value(value)

    return convert


#: Statements built once per process: ``(name, engine)`` -> :class:`_Statement`.
_STATEMENTS: dict[tuple[str, bool], _Statement] = {}
#: At most this many are kept (the list's statements are named by the shape of a question,
#: whose sort keys a client chooses): past it the one built longest ago is dropped.
STATEMENT_LIMIT = 2000


def _statement(name: str, compile: Callable[[], _Statement]) -> _Statement:
    """The statement called ``name`` on this engine, compiled on first use."""
    key = (name, is_postgres())
    statement = _STATEMENTS.get(key)
    if statement is None:
        while len(_STATEMENTS) >= STATEMENT_LIMIT:
            _STATEMENTS.pop(next(iter(_STATEMENTS)), None)
        statement = _STATEMENTS[key] = compile()
    return statement


class _Statement:
    """The SQL of one :func:`select_once` statement, where each value's parameter goes, how
    to convert each column, and the row type; on PostgreSQL also its name as a prepared
    statement and the ``PREPARE`` / ``EXECUTE`` texts (see :func:`_run`)."""

    def __init__(self, sql: str, slots: list, fields: list, row_type, values=()) -> None:
        self.sql, self.slots, self.fields, self.row_type = sql, slots, fields, row_type
        self.converters = _conversions(fields)
        self.layouts: dict[type[pw.Model], tuple] = {}
        #: The columns' names (for ``named`` rows), see :func:`_column_names`.
        self.columns: list[str] = []
        self.name = f"registry_{next(_NAMES)}"
        numbers = itertools.count(1)
        # psycopg's placeholders (``%s``, and ``%%`` for a percent sign) as PostgreSQL's.
        body = re.sub(r"%%|%s", lambda m: "%" if m[0] == "%%" else f"${next(numbers)}", sql)
        types = ", ".join(
            _parameter_type(slot if kind == "constant" else values[slot]) for kind, slot in slots
        )
        declared = f" ({types})" if slots else ""
        self.prepare = f"PREPARE {self.name}{declared} AS {body}"
        marks = ", ".join("%s" for _ in slots)
        self.execute = f"EXECUTE {self.name} ({marks})" if slots else f"EXECUTE {self.name}"
        #: Set once PostgreSQL refused to prepare it: then it always runs as plain SQL.
        self.unpreparable = False
        #: Runs as plain SQL, planned with its values on every call (see select_once).
        self.plan_each_time = False
        #: Its last column numbers the rows in the read's order (see _numbered).
        self.numbered = False


#: The kinds of values bound as a list (a tuple, not ``list | tuple | …``: that expression
#: builds a new union on every call, which the small reads of every request felt).
_LISTS = (list, tuple, set, frozenset)


def _parameter_type(value) -> str:
    """The type a prepared statement declares for a parameter given ``value`` first:
    ``bigint`` (or ``bigint[]``) for integers, else ``unknown`` (PostgreSQL infers it). Left
    to inference, a parameter compared with an ``integer`` column would be an ``integer``,
    and an id beyond its range (2147483648: a 404 in plain SQL, where the literal is a
    ``bigint``) an error; ``integer = bigint`` uses the same indexes."""
    if isinstance(value, _LISTS):
        items = list(value)
        ints = items and all(type(item) is int for item in items)
        return "bigint[]" if ints else "unknown"
    return "bigint" if type(value) is int else "unknown"


#: Numbers of prepared statements' names (unique in the process).
_NAMES = itertools.count(1)
#: Whether statements built once run prepared on PostgreSQL (the ``DB_PREPARE`` setting).
_prepare = True
#: The PostgreSQL connections that asked for generic plans (see PooledPostgres._connect).
_GENERIC_PLANS: weakref.WeakSet = weakref.WeakSet()
#: Each PostgreSQL connection's prepared statements (their names), forgotten with it.
_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Past this many prepared statements, a connection deallocates them all (statements dropped
#: from :data:`_STATEMENTS` and built again get new names).
PREPARED_LIMIT = 500


def _run(statement: _Statement, params: list):
    """The cursor of ``statement`` run with ``params``.

    On PostgreSQL it runs as a prepared statement of the connection (``PREPARE`` once per
    connection, then ``EXECUTE``), so that PostgreSQL plans it once per connection instead
    of on every call: planning was half of the time of the reads every request makes (the
    token, one carrier, a page's rows; 0.37 ms → 0.11 ms for one carrier with its host).
    ``PREPARE`` is sent only outside a transaction (autocommit: a refusal then aborts
    nothing; a statement first met inside a transaction runs as plain SQL until then). A
    statement PostgreSQL refuses to prepare runs as plain SQL from then on; a connection
    that fails propagates its error as any statement's would. Prepared statements live as
    long as their connection, and are not transactional: a rollback keeps them. Off with
    ``REGISTRY_DB_PREPARE=0`` (behind a pooler that does not keep a session per client,
    such as PgBouncer in transaction mode). The peewee log shows the statement's SQL."""
    if not (_prepare and is_postgres()) or statement.unpreparable or statement.plan_each_time:
        return database.execute_sql(statement.sql, params)
    connection = database.connection()
    prepared = _PREPARED.setdefault(connection, set())
    if statement.name not in prepared and not _prepared_on(connection, statement, prepared):
        return database.execute_sql(statement.sql, params)
    database._log_query(statement.sql, params)
    with pw.__exception_wrapper__:
        cursor = database.cursor()
        cursor.execute(statement.execute, params)
    return cursor


def _prepared_on(connection, statement: _Statement, prepared: set) -> bool:
    """Prepare ``statement`` on ``connection`` (True), unless it is inside a transaction or
    PostgreSQL refuses it (False)."""
    import psycopg2
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE

    if connection.get_transaction_status() != TRANSACTION_STATUS_IDLE:
        return False
    with pw.__exception_wrapper__:
        cursor = connection.cursor()
        if len(prepared) >= PREPARED_LIMIT:
            cursor.execute("DEALLOCATE ALL")
            prepared.clear()
        try:
            cursor.execute(statement.prepare)  # no parameters: the text is sent as it is
        except (psycopg2.ProgrammingError, psycopg2.NotSupportedError) as error:
            log.warning("Not prepared (%s): %s", error, statement.sql)
            statement.unpreparable = True
            return False
    prepared.add(statement.name)
    return True


def _marker(index: int, value):
    """A stand-in for value ``index`` while the statement is built: found again among the
    query's parameters (a list stands in as a one-item list, as :func:`among` binds it)."""
    text = f"\x00value {index}\x00"
    return [text] if isinstance(value, _LISTS) else text


def _compile(
    build: Callable[..., pw.SelectQuery], values: tuple, plan_each_time: bool = False
) -> _Statement:
    markers = [_marker(index, value) for index, value in enumerate(values)]
    query = build(*markers)
    sql, params = query.sql()
    slots = []
    for param in params:
        for index, marker in enumerate(markers):
            if param == marker:  # a scalar, or a list bound as an array (PostgreSQL)
                slots.append(("array" if isinstance(marker, list) else "value", index))
                break
            if isinstance(marker, list) and param == json.dumps(marker):  # json_each (SQLite)
                slots.append(("json", index))
                break
        else:
            slots.append(("constant", param))
    if sorted({index for kind, index in slots if kind != "constant"}) != list(range(len(values))):
        raise ValueError(f"{build.__name__}: each value must be bound as one parameter")
    statement = _Statement(sql, slots, _fields_of(query), None, values)
    statement.columns = _column_names(query)
    statement.plan_each_time = plan_each_time
    return statement


def _column_names(query: pw.SelectQuery) -> list[str]:
    """The names of ``query``'s columns, as the database names them (an alias, or the
    column's name; ``column<n>`` for an unnamed expression)."""
    names = []
    for index, node in enumerate(query._returning):
        if isinstance(node, pw.Alias):
            names.append(node._alias)
        elif isinstance(node, pw.Field):
            names.append(node.column_name)
        else:
            names.append(f"column{index}")
    return names


def _fields_of(query: pw.SelectQuery) -> list[pw.Field | None]:
    """The field each column of ``query`` reads (None for an expression, e.g. a count)."""
    fields = []
    for node in query._returning:
        field = node.node if isinstance(node, pw.Alias) else node
        fields.append(field if isinstance(field, pw.Field) else None)
    return fields


def _conversions(fields: list) -> list[tuple[int, Callable]]:
    """``(index, converter)`` of each column that needs converting (see :func:`converter`)."""
    found = [(index, converter(field)) for index, field in enumerate(fields)]
    return [(index, convert) for index, convert in found if convert is not None]


def _converted(cursor, conversions: list[tuple[int, Callable]]) -> list[tuple]:
    """The rows of ``cursor``, each column that needs it through its converter (the others,
    integers and text, as the driver gives them)."""
    return _converted_rows(cursor.fetchall(), conversions)


def _converted_rows(rows: list[tuple], conversions: list[tuple[int, Callable]]) -> list[tuple]:
    """``rows`` with each column that needs it through its converter."""
    if not conversions:
        return rows
    converted = []
    for row in rows:
        row = list(row)
        for index, convert in conversions:
            value = row[index]
            if value is not None:
                row[index] = convert(value)
        converted.append(tuple(row))
    return converted


def select_once(
    name: str,
    build: Callable[..., pw.SelectQuery],
    *values,
    named: bool = False,
    model: type[pw.Model] | None = None,
    plan_each_time: bool = False,
) -> list:
    """The rows of the query ``build(*values)``, as tuples (``named``: namedtuples;
    ``model``: instances of it, see :func:`_instances`), each column converted as peewee
    converts it, with the query's SQL built only on the first call per process and engine.

    peewee builds a query's SQL anew on every execution; for the small reads of every
    request that is most of their CPU (issue 10: about half of a ``GET /carriers/{id}``).
    ``name`` names the statement; ``build`` must give SQL whose text depends on no value of
    ``values``: each bound as one parameter, a scalar compared with ``==`` or a list given to
    :func:`among`. The first call builds it with stand-ins for the values and remembers where
    each one's parameter went; every call binds its own values there. An empty list (where
    :func:`among` writes other SQL) is answered without the database: no rows.

    On PostgreSQL the statement runs prepared with one generic plan for all values (see
    :func:`_run`): right for reads by ids or keys, whose best plan is the same for every
    value. ``plan_each_time`` is for a statement whose best plan depends on its values (the
    list's filters: a town of ten carriers or of ten thousand): it runs as plain SQL,
    planned with its values on every call (a generic plan halved the anonymous directory's
    requests per second).
    """
    if _nothing_asked(values):
        return []
    statement = _statement(name, lambda: _compile(build, values, plan_each_time))
    cursor = _run(statement, _parameters(statement, values))
    rows = _converted(cursor, statement.converters)
    if named:
        return _named(statement, rows)
    if model is None:
        return rows
    layout = statement.layouts.get(model)
    if layout is None:
        layout = statement.layouts[model] = _layout(model, statement.fields)
    return _instances(model, layout, rows)


def _nothing_asked(values: tuple) -> bool:
    """Whether a value is an empty list: :func:`among` writes other SQL for it, and the
    answer is no rows."""
    return any(isinstance(v, _LISTS) and not v for v in values)


def _parameters(statement: _Statement, values) -> list:
    """The parameters of ``statement`` for ``values``, each in its slot."""
    params = []
    for kind, slot in statement.slots:
        if kind == "constant":
            params.append(slot)
        elif kind == "value":
            params.append(values[slot])
        elif kind == "array":
            params.append(list(values[slot]))
        else:
            params.append(json.dumps(list(values[slot])))
    return params


def _named(statement: _Statement, rows: list[tuple]) -> list[tuple]:
    """``rows`` as namedtuples with the statement's column names."""
    if statement.row_type is None:
        statement.row_type = namedtuple("Row", statement.columns)
    return [statement.row_type(*row) for row in rows]


@dataclass(frozen=True)
class Read:
    """One read of :func:`select_together`: as ``select_once(name, build, *values,
    named=named)``."""

    name: str
    build: Callable[..., pw.SelectQuery]
    values: tuple
    named: bool = False


def select_read(read: Read) -> list:
    """The rows of ``read`` alone (:func:`select_once`)."""
    return select_once(read.name, read.build, *read.values, named=read.named)


def select_together(*reads: Read) -> list[list]:
    """The rows of each read, as :func:`select_once` gives them, in one round trip on
    PostgreSQL.

    The small reads that go with the carriers shown (partners, tags, open alerts, roster
    facts) were four round trips on PostgreSQL: two thirds of the wall time of presenting
    one carrier, and a third of a worker's CPU for them. There they run as one statement,
    built once per process (and prepared, see :func:`_run`): each read a subquery whose
    rows are aggregated into a JSON array of row arrays — ``(SELECT json_agg(...) FROM
    (<read>) AS q (c0, c1, …))`` — parsed by the driver and converted column by column as
    the read's own rows would be (dates from their ISO text). A read with an ``ORDER BY``
    numbers its rows in that order (``ROW_NUMBER() OVER (ORDER BY …)``) and the aggregate
    orders by that number: an aggregate's input order is not otherwise guaranteed. A read
    of an empty list is answered without the database, as in :func:`select_once`. On
    SQLite, which has no round trips, each read runs alone: measured faster than
    aggregating to JSON (0.27 against 0.73 ms for 50 carriers)."""
    if not is_postgres():
        return [select_read(read) for read in reads]
    answers: list[list] = [[] for _ in reads]
    asked = [index for index, read in enumerate(reads) if not _nothing_asked(read.values)]
    if not asked:
        return answers
    parts = [
        _statement(f"{reads[i].name} (numbered)", lambda r=reads[i]: _numbered(r)) for i in asked
    ]
    name = "together: " + " | ".join(reads[i].name for i in asked)
    values = [value for i in asked for value in reads[i].values]
    counts = [len(reads[i].values) for i in asked]
    statement = _statement(name, lambda: _together(parts, counts, values))
    cursor = _run(statement, _parameters(statement, values))
    (row,) = cursor.fetchall()
    for index, part, rows in zip(asked, parts, row, strict=True):
        rows = _converted_rows([tuple(row) for row in rows or []], part.converters)
        answers[index] = _named(part, rows) if reads[index].named else rows
    return answers


def _numbered(read: Read) -> _Statement:
    """``read``'s statement for :func:`_together`: without its ``ORDER BY``, which becomes
    a last column numbering the rows in that order (``numbered`` set), if it has one."""

    ordered = []

    def build(*values) -> pw.SelectQuery:
        query = read.build(*values)
        if not query._order_by:
            return query
        ordered.append(True)
        number = pw.fn.ROW_NUMBER().over(order_by=query._order_by)
        return query.select_extend(number.alias("row_number")).order_by()

    statement = _compile(build, read.values)
    if ordered:
        statement.numbered = True
        statement.columns = statement.columns[:-1]  # the rows come without the number
    return statement


def _together(parts: list[_Statement], counts: list[int], values: list) -> _Statement:
    """The one statement of :func:`select_together` (PostgreSQL): each part's SQL a
    subquery aggregated to a JSON array, its parameters renumbered into one list."""
    columns, slots, offset = [], [], 0
    for index, (part, count) in enumerate(zip(parts, counts, strict=True)):
        if any(isinstance(field, pw.DateTimeField) for field in part.fields):
            # JSON writes a timestamp as ISO text with a "T", which is not what the column's
            # converter reads: such a read runs alone (select_once).
            raise ValueError(f"{part.sql}: a timestamp column cannot be read together")
        names = [f"c{n}" for n in range(len(part.fields))]
        shown = names[:-1] if part.numbered else names
        array = ", ".join(f"q{index}.{name}" for name in shown)
        order = f" ORDER BY q{index}.{names[-1]}" if part.numbered else ""
        columns.append(
            f"(SELECT json_agg(json_build_array({array}){order}) "
            f"FROM ({part.sql}) AS q{index} ({', '.join(names)}))"
        )
        slots += [
            (kind, slot if kind == "constant" else slot + offset) for kind, slot in part.slots
        ]
        offset += count
    statement = _Statement("SELECT " + ", ".join(columns), slots, [], None, values)
    statement.columns = [f"part{n}" for n in range(len(parts))]
    return statement


def _layout(model: type[pw.Model], fields: list) -> tuple:
    """Where each model's columns are in a row of ``fields``: ``(own, joined)``, ``own`` the
    ``(name, index)`` of ``model``'s columns, ``joined`` one ``(foreign key name, related
    model, its (name, index) pairs)`` per foreign key of ``model`` whose model was read too."""
    columns: dict[type[pw.Model], list[tuple[str, int]]] = {}
    for index, field in enumerate(fields):
        columns.setdefault(field.model, []).append((field.name, index))
    joined = [
        (key.name, key.rel_model, columns[key.rel_model])
        for key in model._meta.refs
        if key.rel_model in columns
    ]
    return columns[model], joined


def _instances(model: type[pw.Model], layout: tuple, rows: list[tuple]) -> list[pw.Model]:
    """``model`` instances of ``rows`` (see :func:`_layout`), with the rows of the models they
    join attached through their foreign keys (``carrier.host_organization``), none of them
    dirty: what peewee's own row processing gives."""
    own, joined = layout
    made = []
    for row in rows:
        instance = model(__no_default__=True)
        instance.__data__ = {name: row[index] for name, index in own}
        for key_name, related_model, columns in joined:
            related = related_model(__no_default__=True)
            related.__data__ = {name: row[index] for name, index in columns}
            instance.__rel__[key_name] = related
        made.append(instance)
    return made


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


def insert_rows(model: type[pw.Model], rows: list[dict], ignore_conflicts: bool = False) -> None:
    """Insert many rows of ``model`` (dicts with the same keys, field names) in one statement
    per 500 rows, without building peewee's SQL row by row (at a scan's scale that costs more
    than the database's own work); ``ignore_conflicts`` skips rows a unique index refuses.
    Values go through each field's ``db_value`` as peewee's own inserts do, and a field the
    rows leave out gets its default (``created_at``, ``updated_at``…), made once per call."""
    if not rows:
        return
    named = list(rows[0])
    defaults = {
        field: default() if callable(default) else default
        for field, default in model._meta.defaults.items()
        if field.name not in rows[0]
    }
    fields = [model._meta.fields[name] for name in named] + list(defaults)
    columns = ", ".join(f'"{field.column_name}"' for field in fields)
    table = f'"{model._meta.table_name}"'
    filled = tuple(field.db_value(value) for field, value in defaults.items())
    values = [
        tuple(field.db_value(row[field.name]) for field in fields[: len(named)]) + filled
        for row in rows
    ]
    cursor = database.cursor()
    if is_postgres():
        from psycopg2.extras import execute_values

        conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
        execute_values(
            cursor, f"INSERT INTO {table} ({columns}) VALUES %s{conflict}", values, page_size=500
        )
        return
    verb = "INSERT OR IGNORE" if ignore_conflicts else "INSERT"
    marks = ", ".join("?" for _ in fields)
    cursor.executemany(f"{verb} INTO {table} ({columns}) VALUES ({marks})", values)


def locked(query):
    """``query`` with ``FOR UPDATE`` on PostgreSQL (SQLite serialises writers by itself)."""
    return query.for_update() if is_postgres() else query


def claimable(query):
    """``query`` with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL: concurrent workers each take
    other rows instead of waiting (use inside :func:`write_transaction`)."""
    return query.for_update(skip_locked=True) if is_postgres() else query


@contextlib.contextmanager
def write_transaction() -> Iterator[None]:
    """THE way a write opens its transaction: it holds the write lock from its start.

    On SQLite a plain ``BEGIN`` is deferred: the transaction reads, then fails at once with
    "database is locked" when it tries to write while another writer holds the lock.
    ``BEGIN IMMEDIATE`` takes the lock first, waiting ``DB_BUSY_TIMEOUT_MS`` at most. On
    PostgreSQL rows are locked by :func:`locked` / :func:`claimable`. Nested in another
    transaction it is a savepoint of that one.

    A request remembers that one of its write transactions committed, so that the API
    retries a request after a serialization failure or deadlock only when nothing of it
    was committed yet (see ``registry.api``).
    """
    outermost = not database.in_transaction()
    if is_postgres():
        transaction = database.atomic()
    else:
        transaction = database.atomic(lock_type="IMMEDIATE")
    with transaction:
        yield
    if outermost and has_app_context():
        g.committed_writes = getattr(g, "committed_writes", 0) + 1


def try_write(write) -> bool:
    """Run ``write()`` in a short transaction that gives up at once instead of waiting for a
    lock (SQLite's write lock, or a PostgreSQL row lock), and never raises for a busy
    database; answer whether it ran. For bookkeeping such as a token's ``last_used_at``,
    which must never slow down or fail the request that triggers it."""
    try:
        if is_postgres():
            with database.atomic():
                database.execute_sql("SET LOCAL lock_timeout = '100ms'")
                write()
            return True
        (patience,) = database.execute_sql("PRAGMA busy_timeout").fetchone()
        database.execute_sql("PRAGMA busy_timeout = 0")
        try:
            with database.atomic(lock_type="IMMEDIATE"):
                write()
        finally:
            database.execute_sql(f"PRAGMA busy_timeout = {int(patience)}")
        return True
    except (pw.OperationalError, sqlite3.OperationalError) as error:
        if unavailable(error) is None:
            raise
        return False


#: SQLite messages that mean "busy or away", not a bug in a statement.
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "database is busy",
    "unable to open database",
    "disk i/o error",
)
#: PostgreSQL SQLSTATE classes that mean "busy or away": connection exception, transaction
#: rollback (serialization failure, deadlock), insufficient resources, operator intervention
#: (shutdown, statement or lock timeout is 57014 / 55P03).
#: SQLite storage that refuses writes: the disk (or ``max_page_count``) is full, or the
#: file is read-only. Nothing was written (the transaction rolled back).
_SQLITE_STORAGE = {
    "database or disk is full": "full",
    "attempt to write a readonly database": "read-only",
}
_PG_UNAVAILABLE_CLASSES = ("08", "40", "53", "57")
_PG_UNAVAILABLE_CODES = ("55P03",)
#: What psycopg says, without a SQLSTATE, of a refused, lost or closed connection.
_PG_CONNECTION_TEXTS = ("connect", "connection", "server closed", "terminating")
#: Serialization failure and deadlock: the transaction may succeed when run again.
_PG_RETRYABLE_CODES = ("40001", "40P01")


def _driver_errors(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the driver errors behind it (peewee wraps them, first argument too)."""
    seen = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend([current.__cause__, current.__context__])
        pending.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, Exception))


def _sqlstate(error: BaseException) -> str | None:
    for current in _driver_errors(error):
        code = getattr(current, "pgcode", None) or getattr(current, "sqlstate", None)
        if code:
            return code
    return None


def unavailable(error: BaseException) -> str | None:
    """Why ``error`` means the database is busy or unreachable (answer 503 and retry later),
    or None when it is an ordinary error (a bug, a constraint): ``"busy"`` for a lock,
    a serialization failure or a deadlock, ``"unreachable"`` for a database that is away,
    ``"full"`` / ``"read-only"`` for SQLite storage that refuses writes."""
    if retryable(error) or isinstance(error, MaxConnectionsExceeded):
        return "busy"
    code = _sqlstate(error)
    if code:
        if code in _PG_UNAVAILABLE_CODES or code == "57014":
            return "busy"
        return "unreachable" if code[:2] in _PG_UNAVAILABLE_CLASSES else None
    for current in _driver_errors(error):
        message = str(current).lower()
        for text, reason in _SQLITE_STORAGE.items():
            if text in message:
                return reason
        if any(text in message for text in _SQLITE_UNAVAILABLE):
            return "busy" if "locked" in message or "busy" in message else "unreachable"
    operational = (pw.OperationalError, pw.InterfaceError)
    if is_postgres() and isinstance(error, operational):
        # psycopg reports a refused or dropped connection without a SQLSTATE.
        message = str(error).lower()
        if any(text in message for text in _PG_CONNECTION_TEXTS):
            return "unreachable"
    return None


def retryable(error: BaseException) -> bool:
    """A PostgreSQL serialization failure or deadlock: the whole transaction may be rerun."""
    return _sqlstate(error) in _PG_RETRYABLE_CODES


def init_app(app) -> None:
    """Take a pooled connection per request and give it back at teardown."""

    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close(exc):
        if not database.is_closed():
            database.close()
