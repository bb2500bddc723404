"""/healthz (process alive) and /readyz (database reachable, schema current)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from registry import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready when the database answers and its schema is the current one."""
    checks: dict = {}
    ready = True
    try:
        current = db.current_version()
        latest = db.latest_version()
        checks["database"] = "ok"
        checks["schema_version"] = current
        checks["schema_latest"] = latest
        if current != latest:
            ready = False
            checks["schema"] = "stale: run `registry init-db`"
    except Exception as error:  # any database failure means not ready
        ready = False
        checks["database"] = f"unreachable: {type(error).__name__}"
    body = {"status": "ready" if ready else "unready", **checks}
    return jsonify(body), 200 if ready else 503
