"""Serving for production (issue 10): one JSON log line per request that never holds a
token, pooled connections reused across requests, a token refused from the request after
its revocation or expiry however the lookup is cached, the gunicorn settings, and the
composite indexes the list's plan uses."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import runpy
from pathlib import Path

import pytest

from registry import db

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def request_lines():
    """The JSON lines of ``registry.requests`` while the test runs."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    logger = logging.getLogger("registry.requests")
    handler = Keep()
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def test_one_json_line_per_request_with_who_and_how_long(api, admin, request_lines):
    response = api.get("/api/v1/carriers?page_size=5", token=admin, headers={"X-Request-ID": "r-1"})
    assert response.status_code == 200
    anonymous = api.get("/api/v1/carriers/999999")
    assert anonymous.status_code == 404
    first, second = (json.loads(line) for line in request_lines)
    assert set(first) == {"method", "path", "status", "duration_ms", "request_id", "principal_id"}
    assert first["method"] == "GET" and first["path"] == "/api/v1/carriers"
    assert first["status"] == 200 and first["request_id"] == "r-1"
    assert isinstance(first["principal_id"], int) and first["duration_ms"] >= 0
    assert second["status"] == 404 and second["principal_id"] is None
    assert second["request_id"] == anonymous.headers["X-Request-ID"]


def test_the_line_goes_to_the_registry_s_own_handler_as_logging_would_write_it(api, admin):
    """With only its own handler, the line is written to the handler's stream directly
    (``requestlog.emit``); with a filter on the logger, through ``logging``: the same text."""
    logger = logging.getLogger("registry.requests")
    (handler,) = [h for h in logger.handlers if h.get_name() == "registry.requests"]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    dropped = logging.Filter("nothing")  # a filter that lets no record of this logger pass
    try:
        assert api.get("/api/v1/carriers/999999", token=admin).status_code == 404
        direct = stream.getvalue()
        logger.addFilter(dropped)
        assert api.get("/api/v1/carriers/999999", token=admin).status_code == 404
        assert stream.getvalue() == direct  # the filter was obeyed: logging was asked
        logger.removeFilter(dropped)
        stream.truncate(0), stream.seek(0)
        assert api.get("/api/v1/carriers/999998", token=admin).status_code == 404
        record = logging.LogRecord("registry.requests", logging.INFO, "", 0, "x", None, None)
        record.msg = stream.getvalue().rstrip("\n")
        assert stream.getvalue() == handler.format(record) + handler.terminator
    finally:
        logger.removeFilter(dropped)
        handler.setStream(previous)
    line = json.loads(direct)
    assert (line["status"], line["path"]) == (404, "/api/v1/carriers/999999")
    assert direct.count("\n") == 1


def test_the_log_never_holds_a_token_or_a_feed_key(api, admin, request_lines):
    api.get("/api/v1/me", token=admin)
    api.get("/api/v1/me", token=admin + "x")  # a wrong token: 401, still logged
    key = api.post("/api/v1/me/feed-key", token=admin).get_json()["feed_key"]
    api.get(f"/api/v1/calendar.ics?key={key}")
    assert [json.loads(line)["status"] for line in request_lines] == [200, 401, 201, 200]
    logged = "\n".join(request_lines)
    for secret in (admin, admin[4:], key, key[4:]):
        assert secret not in logged


def test_the_request_log_can_be_switched_off(database_url, request_lines):
    from registry import create_app

    app = create_app({"DATABASE_URL": database_url, "SCHEDULER": False, "REQUEST_LOG": False})
    assert app.test_client().get("/healthz").status_code == 200
    assert request_lines == []


def test_requests_reuse_one_pooled_connection(app, api, admin):
    from playhouse.pool import PooledDatabase

    pool = db.database.obj
    assert isinstance(pool, PooledDatabase)
    assert pool._max_connections == app.config["DB_POOL_SIZE"]
    api.get("/api/v1/carriers", token=admin)
    idle = [conn for _, _, conn in pool._connections]
    api.get("/api/v1/carriers", token=admin)
    assert [conn for _, _, conn in pool._connections] == idle
    assert len(idle) == 1 and not pool._in_use


def test_the_pool_size_comes_from_the_settings(database_url):
    from registry import create_app

    create_app({"DATABASE_URL": database_url, "SCHEDULER": False, "DB_POOL_SIZE": 3})
    assert db.database.obj._max_connections == 3


def test_a_revoked_or_expired_token_is_refused_on_the_next_request(app, api, admin, make_token):
    from registry.models import Token

    token = make_token("bureau_viewer")
    assert api.get("/api/v1/me", token=token).status_code == 200
    listed = api.get("/api/v1/tokens?page_size=100", token=admin).get_json()
    mine = next(item for item in listed if token.startswith(item["prefix"]) and item["active"])
    etag = api.get(f"/api/v1/tokens/{mine['id']}", token=admin).headers["ETag"]
    revoked = api.delete(f"/api/v1/tokens/{mine['id']}", token=admin, headers={"If-Match": etag})
    assert revoked.status_code in (200, 204)
    assert api.get("/api/v1/me", token=token).status_code == 401

    other = make_token("bureau_viewer")
    assert api.get("/api/v1/me", token=other).status_code == 200
    with app.app_context(), db.database.connection_context():
        past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
        Token.update(expires_at=past).where(Token.revoked_at.is_null()).execute()
    assert api.get("/api/v1/me", token=other).status_code == 401


def test_gunicorn_settings_follow_the_cpu_count_and_the_environment(monkeypatch):
    monkeypatch.delenv("GUNICORN_WORKERS", raising=False)
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["workers"] == (os.cpu_count() or 1) * 2 + 1
    assert settings["worker_class"] == "sync"
    assert settings["timeout"] > 0 and settings["graceful_timeout"] > 0
    assert settings["accesslog"] is None  # the app logs its own JSON line
    monkeypatch.setenv("GUNICORN_WORKERS", "3")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"] == 3


@pytest.mark.skipif(bool(os.environ.get("REGISTRY_TEST_DATABASE_URL")), reason="SQLite plan")
def test_the_filtered_list_searches_the_composite_index(in_db):
    from registry import directory
    from registry.models import Carrier

    with in_db():
        from flask import g

        g.principal = None
        args = {"type": "skill_master_studio", "town": "浒山街道", "sort": "-accredited_on"}
        query = directory.sort(directory.visible(args), args["sort"])
        sql, params = query.sql()
        plan = " ".join(
            row[-1] for row in db.database.execute_sql("EXPLAIN QUERY PLAN " + sql, params)
        )
        assert "carrier_type_town_accredited_on" in plan
        counted = Carrier.select(Carrier.type, Carrier.level).group_by(Carrier.type, Carrier.level)
        sql, params = counted.sql()
        plan = " ".join(
            row[-1] for row in db.database.execute_sql("EXPLAIN QUERY PLAN " + sql, params)
        )
        assert "COVERING INDEX carrier_type_level_status_town" in plan
