"""Test set-up: a fresh database per test (SQLite by default, PostgreSQL when
``REGISTRY_TEST_DATABASE_URL`` is set), the app, a client and factories for tokens and data."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
from collections.abc import Iterator

import peewee as pw
import pytest
from counts_support import assert_carrier_counts_exact
from pages import TEST_PASSWORD, post_form, session_cookie, truncate_postgres

from registry import create_app, db, schema

PG_URL = os.environ.get("REGISTRY_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> str | None:
    """A migrated SQLite file copied for each test, or a migrated PostgreSQL database."""
    if PG_URL:
        database = db.bind(PG_URL)
        with database.connection_context():
            database.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            schema.upgrade()
        db.close_all()
        return None
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = db.bind(f"sqlite:///{path}")
    with database.connection_context():
        schema.upgrade()
    db.close_all()
    return str(path)


@pytest.fixture
def database_url(template_db, tmp_path) -> str:
    if PG_URL:
        return PG_URL
    path = tmp_path / "registry.db"
    shutil.copy(template_db, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def shared_app(template_db):
    """One app for the whole run, with its settings as built.

    Building an app costs most of a second (flask-smorest writes the OpenAPI document as the
    blueprints register), which over a thousand tests on two engines was a third of CI. The
    app holds no state of its own between requests (the database is the module's proxy, bound
    per test below), so each test gets this one back with its settings restored."""
    url = PG_URL or f"sqlite:///{template_db}"
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SCHEDULER": False})
    return app, dict(app.config), db.database.obj


@pytest.fixture
def app(shared_app, database_url):
    """The app on a fresh database holding the default evaluation policies."""
    from fixtures import loader

    app, settings, session_database = shared_app
    app.config.clear()
    app.config.update(settings, DATABASE_URL=database_url)
    if PG_URL:
        db.database.initialize(session_database)
    else:
        db.bind(database_url, settings["DB_BUSY_TIMEOUT_MS"])
    with app.app_context():
        with db.database.connection_context():
            if PG_URL:
                truncate_postgres(db.database.obj)
            loader.load_policies()
    yield app
    with app.app_context(), db.database.connection_context():
        assert_carrier_counts_exact()
    db.close_all()


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """A thin JSON client: ``api.get(path, token=…)`` answers the werkzeug response."""

    def __init__(self, client):
        self.client = client

    def _headers(self, token, headers):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def get(self, path, token=None, headers=None, **kwargs):
        return self.client.get(path, headers=self._headers(token, headers), **kwargs)

    def post(self, path, json=None, token=None, headers=None, **kwargs):
        return self.client.post(path, json=json, headers=self._headers(token, headers), **kwargs)

    def patch(self, path, json=None, token=None, headers=None, **kwargs):
        return self.client.patch(path, json=json, headers=self._headers(token, headers), **kwargs)

    def put(self, path, json=None, token=None, headers=None, **kwargs):
        return self.client.put(path, json=json, headers=self._headers(token, headers), **kwargs)

    def delete(self, path, token=None, headers=None, **kwargs):
        return self.client.delete(path, headers=self._headers(token, headers), **kwargs)


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
def make_token(app):
    """``make_token(role, org_ids=(), name=None)`` creates a principal and returns its token."""
    from registry import tokens

    counter = iter(range(1, 10_000))

    def make(role: str, org_ids=(), name: str | None = None) -> str:
        with app.app_context(), db.database.connection_context():
            _, token = tokens.create_principal_token(
                name=name or f"{role}-{next(counter)}",
                role=role,
                organization_ids=list(org_ids),
                actor="tests",
            )
        return token

    return make


@pytest.fixture
def admin(make_token) -> str:
    return make_token("bureau_admin", name="bureau admin")


@pytest.fixture
def viewer(make_token) -> str:
    return make_token("bureau_viewer", name="bureau viewer")


@pytest.fixture
def org_factory(api, admin):
    """``org_factory(**fields)`` creates an organisation through the API and returns its JSON."""
    counter = iter(range(1, 10_000))

    def make(**fields) -> dict:
        body = {"name": f"示例企业{next(counter)}", "kind": "enterprise", **fields}
        response = api.post("/api/v1/organizations", json=body, token=admin)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def carrier_factory(api, admin, org_factory):
    """``carrier_factory(**fields)`` creates a carrier through the API (and a host)."""
    counter = iter(range(1, 10_000))

    def make(**fields) -> dict:
        if "host_organization_id" not in fields:
            fields["host_organization_id"] = org_factory()["id"]
        body = {
            "name": f"示例载体{next(counter)}",
            "type": "skill_master_studio",
            "level": "county",
            **fields,
        }
        response = api.post("/api/v1/carriers", json=body, token=admin)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def accredit(app):
    """``accredit(carrier_id, on, level=None, **extra)`` records an accreditation as history:
    alerts are left to the scan (``scan_on``), so that tests walking the calendar with
    back-fills start from a carrier without alerts. Post the milestone through HTTP
    (``record``) to see the write reconcile them at once."""
    import datetime as dt

    from registry import milestones
    from registry.models import Carrier

    def run(carrier_id: int, on: dt.date | str, level: str | None = None, **extra) -> None:
        on = dt.date.fromisoformat(on) if isinstance(on, str) else on
        with app.test_request_context(), db.database.connection_context():
            carrier = Carrier.get_by_id(carrier_id)
            data = {"kind": "accredited", "occurred_on": on, "level": level, **extra}
            milestones.record_milestone(carrier, data, actor="tests", reconcile=False)

    return run


@pytest.fixture
def record(api, admin):
    """``record(carrier_id, kind, on, **fields)`` posts a milestone as the bureau admin and
    returns the response."""

    def post(carrier_id: int, kind: str, on: str, **fields):
        body = {"kind": kind, "occurred_on": on, **fields}
        return api.post(f"/api/v1/carriers/{carrier_id}/milestones", json=body, token=admin)

    return post


@pytest.fixture
def rows(app):
    """``rows(Model, *where)`` counts the stored rows of a model (to prove nothing changed)."""

    def count(model, *where) -> int:
        with app.app_context(), db.database.connection_context():
            query = model.select()
            for condition in where:
                query = query.where(condition)
            return query.count()

    return count


class QueryCounter(logging.Handler):
    """Counts the SQL statements peewee logs."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record):
        if record.name != "peewee":
            return  # e.g. peewee.pool's check-outs and check-ins: no statements
        sql = record.msg[0] if isinstance(record.msg, tuple) else str(record.msg)
        self.statements.append(str(sql))


@pytest.fixture
def count_queries() -> Iterator[QueryCounter]:
    logger = logging.getLogger("peewee")
    counter = QueryCounter()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(old_level)


@pytest.fixture
def db_state(app):
    """``db_state()``: every row of every table, to prove that a refused call changed nothing.

    A token's ``last_used_at`` is left out: it is bookkeeping of reads, not a change.
    """
    from registry.models import ALL_MODELS, Token

    def dump() -> dict:
        with app.app_context(), db.database.connection_context():
            state = {}
            for model in ALL_MODELS:
                key = model._meta.primary_key
                if isinstance(key, pw.CompositeKey):
                    key = [model._meta.fields[name] for name in key.field_names]
                rows = list(
                    model.select().order_by(*([key] if isinstance(key, pw.Field) else key)).dicts()
                )
                if model is Token:
                    for row in rows:
                        row.pop("last_used_at")
                state[model._meta.table_name] = rows
            return state

    return dump


@pytest.fixture
def changes(app):
    """``changes()``: the audit records, oldest first, as plain dicts."""
    from registry.models import Change

    def read() -> list[dict]:
        with app.app_context(), db.database.connection_context():
            return list(Change.select().order_by(Change.id).dicts())

    return read


@pytest.fixture
def scan_on(app):
    """``scan_on(day, **kwargs)`` runs the deadline scan as of ``day`` and returns its result."""
    import datetime as dt

    from jobs import scan

    def run(day: dt.date | str, **kwargs):
        day = dt.date.fromisoformat(day) if isinstance(day, str) else day
        with app.app_context(), db.database.connection_context():
            return scan.scan(day, **kwargs)

    return run


@pytest.fixture
def in_db(app):
    """``with in_db(): …`` runs model code in an app context with a connection."""
    from contextlib import contextmanager

    @contextmanager
    def context():
        with app.test_request_context(), db.database.connection_context():
            yield

    return context


# --- people who sign in to the pages (issue 13) --------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashes():
    """Test people's passwords are hashed with scrypt at a low cost (about 1 ms instead of
    0.3 s each); the service keeps werkzeug's default cost (``people.PASSWORD_METHOD``)."""
    from registry import people

    saved = people.PASSWORD_METHOD
    people.PASSWORD_METHOD = "scrypt:1024:8:1"
    yield
    people.PASSWORD_METHOD = saved


#: Numbers of test people: unique in the session (the browser tests share a database).
PERSON_NUMBERS = itertools.count(1)


@pytest.fixture
def make_person(app):
    """``make_person(role, org_ids=(), name=None)`` invites a person and sets their
    password (:data:`TEST_PASSWORD`) through ``registry.people``; returns the principal."""
    from registry import people

    def make(role: str, org_ids=(), name: str | None = None):
        with app.test_request_context(), db.database.connection_context():
            _, invitation = people.invite(
                name=name or f"{role}-person-{next(PERSON_NUMBERS)}",
                role=role,
                organization_ids=list(org_ids),
                actor="tests",
            )
            return people.set_password(invitation, TEST_PASSWORD)

    return make


@pytest.fixture
def page_client(app, make_person):
    """``page_client(role, org_ids=())``: a Flask test client signed in to the pages as a
    new person of ``role`` (``.person`` is the principal; ``.form(path, data)`` posts a
    form with the CSRF token)."""

    def make(role: str, org_ids=(), name: str | None = None):
        person = make_person(role, org_ids, name)
        client = app.test_client()
        client.set_cookie(app.config["SESSION_COOKIE_NAME"], session_cookie(app, person))
        client.person = person
        client.form = lambda path, data=None, **kwargs: post_form(client, path, data, **kwargs)
        return client

    return make
