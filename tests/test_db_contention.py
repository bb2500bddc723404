"""Issue 9, defect 2: a busy or absent database is a 503 problem with ``Retry-After``, never a
500; writes take SQLite's write lock first; ``last_used_at`` is best-effort bookkeeping."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3

import peewee as pw
import pytest

from registry import create_app, db, organizations
from registry.api import WRITE_ATTEMPTS
from registry.models import Organization, Token

PG_URL = os.environ.get("REGISTRY_TEST_DATABASE_URL")
sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite's write lock")
ORGS = "/api/v1/organizations"


def assert_unavailable(response, retry_after: str) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == retry_after
    assert response.get_json()["status"] == 503


@pytest.fixture
def impatient(database_url, app):
    """The app on the same database, with writers that wait only 100 ms for the lock."""
    return create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "SCHEDULER": False,
            "DB_BUSY_TIMEOUT_MS": 100,
        }
    )


@pytest.fixture
def lock_holder(database_url):
    """``with lock_holder(): …``: another process's write transaction holds the lock."""
    from contextlib import contextmanager

    @contextmanager
    def hold():
        other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()

    return hold


def last_used(app, token_name: str):
    with app.app_context(), db.database.connection_context():
        return Token.get(Token.name == token_name).last_used_at


@sqlite_only
def test_a_write_while_another_holds_the_lock_is_503_and_changes_nothing(
    impatient, lock_holder, make_token, db_state
):
    admin = make_token("bureau_admin")
    client = impatient.test_client()
    headers = {"Authorization": f"Bearer {admin}"}
    before = db_state()
    with lock_holder():
        response = client.post(ORGS, json={"name": "甲", "kind": "enterprise"}, headers=headers)
    assert_unavailable(response, "1")
    assert "busy" in response.get_json()["detail"]
    assert db_state() == before
    created = client.post(ORGS, json={"name": "甲", "kind": "enterprise"}, headers=headers)
    assert created.status_code == 201


@sqlite_only
def test_a_read_never_fails_on_the_lock_and_skips_last_used_at(impatient, lock_holder, make_token):
    token = make_token("bureau_viewer", name="reader")
    client = impatient.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    with lock_holder():
        assert client.get(ORGS, headers=headers).status_code == 200
    assert last_used(impatient, "reader") is None  # skipped, not waited for
    assert client.get(ORGS, headers=headers).status_code == 200
    assert last_used(impatient, "reader") is not None


def test_last_used_at_is_written_at_most_once_a_minute(api, app, make_token, count_queries):
    token = make_token("bureau_viewer", name="frequent")
    assert api.get(ORGS, token=token).status_code == 200
    first = last_used(app, "frequent")
    assert first is not None
    count_queries.statements.clear()
    assert api.get(ORGS, token=token).status_code == 200
    assert not [sql for sql in count_queries.statements if sql.startswith('UPDATE "token"')]
    assert last_used(app, "frequent") == first
    with app.app_context(), db.database.connection_context():
        earlier = first - dt.timedelta(minutes=2)
        Token.update(last_used_at=earlier).where(Token.name == "frequent").execute()
    assert api.get(ORGS, token=token).status_code == 200
    assert last_used(app, "frequent") > earlier


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:18149/nowhere",  # nothing listens there
        "sqlite:///{tmp_path}",  # a directory: SQLite cannot open it
    ],
)
def test_an_unreachable_database_is_503(url, tmp_path, app):
    broken = create_app(
        {"DATABASE_URL": url.format(tmp_path=tmp_path), "TESTING": True, "SCHEDULER": False}
    )
    try:
        client = broken.test_client()
        response = client.get("/api/v1/carriers")
        assert_unavailable(response, "5")
        assert "unavailable" in response.get_json()["detail"]
        assert client.get("/readyz").status_code == 503
    finally:
        db.bind(app.config["DATABASE_URL"])


class SerializationFailure(pw.OperationalError):
    """What the driver raises when PostgreSQL aborts a transaction (SQLSTATE 40001)."""

    pgcode = "40001"


def test_a_serialization_failure_is_retried_then_503(api, admin, monkeypatch, rows):
    real = organizations.create_organization
    calls = []

    def flaky(data, failures):
        calls.append(1)
        if len(calls) <= failures:
            with db.write_transaction():
                Organization.create(name="半途", kind="enterprise")
                raise SerializationFailure("could not serialize access")
        return real(data)

    monkeypatch.setattr(organizations, "create_organization", lambda data: flaky(data, 1))
    created = api.post(ORGS, json={"name": "乙", "kind": "enterprise"}, token=admin)
    assert created.status_code == 201 and len(calls) == 2
    assert rows(Organization, Organization.name == "半途") == 0

    calls.clear()
    monkeypatch.setattr(organizations, "create_organization", lambda data: flaky(data, 99))
    response = api.post(ORGS, json={"name": "丙", "kind": "enterprise"}, token=admin)
    assert_unavailable(response, "1")
    assert len(calls) == WRITE_ATTEMPTS
    assert rows(Organization, Organization.name.in_(["半途", "丙"])) == 0


def test_no_retry_once_a_write_of_the_request_committed(api, admin, monkeypatch, rows):
    calls = []

    def committed_then_failed(data):
        calls.append(1)
        with db.write_transaction():
            Organization.create(name="已提交", kind="enterprise")
        raise SerializationFailure("could not serialize access")

    monkeypatch.setattr(organizations, "create_organization", committed_then_failed)
    response = api.post(ORGS, json={"name": "丁", "kind": "enterprise"}, token=admin)
    assert_unavailable(response, "1")
    assert len(calls) == 1
    assert rows(Organization, Organization.name == "已提交") == 1


def test_other_database_errors_stay_errors(api, admin, monkeypatch):
    def broken(data):
        raise pw.OperationalError("no such column: nonsense")

    monkeypatch.setattr(organizations, "create_organization", broken)
    with pytest.raises(pw.OperationalError):
        api.post(ORGS, json={"name": "戊", "kind": "enterprise"}, token=admin)


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL's own errors, as its driver raises them")
@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
def test_postgresql_serialization_failures_and_deadlocks_are_retried(
    api, admin, monkeypatch, rows, sqlstate
):
    real = organizations.create_organization
    calls = []
    abort = f"DO $$ BEGIN RAISE EXCEPTION 'aborted' USING ERRCODE = '{sqlstate}'; END $$"

    def flaky(data, failures):
        calls.append(1)
        if len(calls) <= failures:
            with db.write_transaction():
                Organization.create(name="半途", kind="enterprise")
                db.database.execute_sql(abort)
        return real(data)

    monkeypatch.setattr(organizations, "create_organization", lambda data: flaky(data, 2))
    created = api.post(ORGS, json={"name": "己", "kind": "enterprise"}, token=admin)
    assert created.status_code == 201 and len(calls) == 3
    calls.clear()
    monkeypatch.setattr(organizations, "create_organization", lambda data: flaky(data, 99))
    assert_unavailable(api.post(ORGS, json={"name": "庚", "kind": "enterprise"}, token=admin), "1")
    assert len(calls) == WRITE_ATTEMPTS
    assert rows(Organization, Organization.name.in_(["半途", "庚"])) == 0
