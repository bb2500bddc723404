"""One JSON line per request on the ``registry.requests`` logger (standard error).

``{"method", "path", "status", "duration_ms", "request_id", "principal_id"}``: the path
without its query string (a calendar feed key travels in ``?key=``), and never a header, so
that no token or key reaches a log. ``principal_id`` is null for anonymous requests.
Switched off by ``REGISTRY_REQUEST_LOG=0``.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import Flask, g, request

log = logging.getLogger("registry.requests")


def _handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.set_name("registry.requests")
    return handler


def line(status: int, duration_ms: float) -> str:
    """The log line of the current request."""
    principal = getattr(g, "principal", None)
    return json.dumps(
        {
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": round(duration_ms, 2),
            "request_id": getattr(g, "request_id", None),
            "principal_id": principal.id if principal is not None else None,
        },
        ensure_ascii=False,
    )


def init_app(app: Flask) -> None:
    """Time every request and log its line once the answer is ready."""
    if not app.config.get("REQUEST_LOG", True):
        return
    log.setLevel(logging.INFO)
    log.propagate = False
    if not any(handler.get_name() == "registry.requests" for handler in log.handlers):
        log.addHandler(_handler())

    @app.before_request
    def _start_clock():
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        started = getattr(g, "request_started", None)
        if started is not None:
            emit(line(response.status_code, (time.perf_counter() - started) * 1000))
        return response


def emit(text: str) -> None:
    """Log ``text`` at INFO on ``registry.requests``. While the logger has only its own
    handler (the usual case: nothing configured it otherwise), the line is written to that
    handler's stream directly, as the handler would write it: a log record, its handler
    and formatter calls were a twentieth of the CPU of a ``GET /carriers/{id}``. Any other
    set-up (another handler, a filter, a level above INFO) goes through ``logging``."""
    handlers = log.handlers
    if (
        len(handlers) == 1
        and handlers[0].get_name() == "registry.requests"
        and type(handlers[0]) is logging.StreamHandler
        and not handlers[0].filters
        and not log.filters
        and handlers[0].level <= logging.INFO
        and log.isEnabledFor(logging.INFO)
        and not log.disabled
    ):
        handler = handlers[0]
        with handler.lock:
            handler.stream.write(text + handler.terminator)
            handler.stream.flush()
        return
    log.info(text)
