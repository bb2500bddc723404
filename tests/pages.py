"""Helpers of the tests of the pages (issue 13): page sessions, forms, the test database."""

from __future__ import annotations

from registry import db

#: The password every test person gets (long enough for the password rule).
TEST_PASSWORD = "correct horse battery"


def truncate_postgres(database) -> None:
    """Empty every table of the PostgreSQL test database (ids restart)."""
    tables = [name for name in database.get_tables() if name != "schema_version"]
    if tables:
        database.execute_sql(
            "TRUNCATE " + ", ".join(f'"{name}"' for name in tables) + " RESTART IDENTITY CASCADE"
        )


def session_cookie(app, principal) -> str:
    """The value of a page session cookie signing ``principal`` in, made the way the app
    makes it (so that a test need not post the sign-in form each time)."""
    from flask import session

    from registry.web import pages as web

    with app.test_request_context("/sign-in"), db.database.connection_context():
        web.ensure_secret_key(app)
        web.sign_in_session(principal)
        return app.session_interface.get_signing_serializer(app).dumps(dict(session))


def csrf_token_of(client) -> str:
    """The CSRF token of ``client``'s page session (made when the session has none)."""
    import secrets

    from registry.web import pages as web

    with client.session_transaction() as session:
        token = session.setdefault(web.SESSION_CSRF, secrets.token_urlsafe(32))
    return token


def post_form(client, path: str, data: dict | None = None, **kwargs):
    """POST a page form as a browser would: with the session's CSRF token."""
    from registry.web import pages as web

    return client.post(path, data={**(data or {}), web.CSRF_FIELD: csrf_token_of(client)}, **kwargs)
