"""Carrier Registry: the Flask application factory."""

from __future__ import annotations

import inspect
import logging
import uuid

from flask import Flask, g, request

from registry import db
from registry.config import load_config

__all__ = ["create_app"]


class RegistryFlask(Flask):
    """Flask, remembering which functions are coroutines.

    Flask asks ``inspect.iscoroutinefunction`` of every hook and view on every request
    (sixteen times for one ``GET /carriers/{id}``, a twentieth of its CPU); whether a
    function is a coroutine never changes, so it is asked once per function (bound methods
    by their function: a view's method is bound anew on each request).
    """

    _coroutine: dict = {}

    def ensure_sync(self, func):
        plain = getattr(func, "__func__", func)
        try:
            coroutine = self._coroutine[plain]
        except KeyError:
            coroutine = self._coroutine[plain] = inspect.iscoroutinefunction(func)
        except TypeError:  # an unhashable callable: asked each time, as Flask does
            coroutine = inspect.iscoroutinefunction(func)
        return self.async_to_sync(func) if coroutine else func


def create_app(config: dict | None = None) -> Flask:
    """Build the app: settings, database, pages, API blueprints, error handling, jobs and CLI.

    ``config`` overrides the ``REGISTRY_*`` environment settings (tests pass a database URL).
    """
    from registry import access, i18n, requestlog, web
    from registry.api import register_api
    from registry.cli import register_cli

    app = RegistryFlask(__name__, instance_relative_config=True)
    settings = load_config(config)
    app.config.update(settings)
    app.config.update(
        MAX_CONTENT_LENGTH=settings["MAX_BODY_BYTES"],
        JSON_AS_ASCII=False,
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    logging.basicConfig(level=settings["LOG_LEVEL"].upper())

    db.bind(
        settings["DATABASE_URL"],
        settings["DB_BUSY_TIMEOUT_MS"],
        settings["DB_POOL_SIZE"],
        settings["DB_POOL_RECYCLE_SECONDS"],
        settings["DB_PREPARE"],
    )
    db.init_app(app)
    i18n.init_app(app)
    requestlog.init_app(app)

    @app.before_request
    def _request_context():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming[:64] if incoming.strip() else uuid.uuid4().hex
        if request.path.startswith("/api/v1") or request.path.startswith("/calendar"):
            access.authenticate()

    @app.after_request
    def _request_id_header(response):
        if getattr(g, "request_id", None):
            response.headers["X-Request-ID"] = g.request_id
        return response

    # The pages before the API: the API wraps every view registered so far in its retry of
    # serialization failures, the pages' views included.
    web.init_app(app)
    register_api(app)
    register_cli(app)
    return app
