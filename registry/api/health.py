"""/healthz (process alive) and /readyz (database reachable, schema current, scan fresh)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, jsonify

from registry import clock, schema

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready when the database answers, every migration step is applied and the last
    successful scan is younger than ``REGISTRY_READY_MAX_SCAN_AGE_HOURS`` (before the first
    scan, the age counts from the creation of the run log: see ``jobs.runs.scan_freshness``).
    """
    from jobs import runs

    checks: dict = {}
    ready = True
    try:
        pending = schema.pending_versions()
        checks["database"] = "ok"
        checks["schema_version"] = schema.current_version()
        checks["schema_latest"] = schema.latest_version()
        if pending:
            ready = False
            checks["schema"] = "stale: run `registry init-db`"
            checks["schema_pending"] = pending
        else:
            limit = current_app.config["READY_MAX_SCAN_AGE_HOURS"]
            scan = runs.scan_freshness(limit)
            checks["last_scan_at"] = _shown(scan["last_scan_at"])
            checks["last_scan_age_hours"] = scan["last_scan_age_hours"]
            checks["max_scan_age_hours"] = limit
            if not scan["fresh"]:
                ready = False
                checks["scan"] = "stale: no successful scan for more than the limit"
    except Exception as error:  # any database failure means not ready
        ready = False
        checks["database"] = f"unreachable: {type(error).__name__}"
    body = {"status": "ready" if ready else "unready", **checks}
    return jsonify(body), 200 if ready else 503


def _shown(value: dt.datetime | None) -> str | None:
    return clock.local_isoformat(value)
