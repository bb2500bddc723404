"""The pages people use (issue 13): server-rendered, in Chinese, over the same domain
functions and access rules as the JSON API.

One blueprint, ``web``, with one module of views per area (``auth``, ``operator``,
``partner``, …). What every page shares lives in ``registry.web.pages``:

* :func:`render` renders a page template (the base is ``base.html``);
* the person signed in is loaded from the session into ``g.principal`` (and ``g.actor``),
  exactly what :func:`registry.access.authenticate` sets for a token, so every check of
  ``registry.access`` works unchanged on a page;
* :func:`signed_in` guards a view: anonymous callers are sent to the sign-in page, a
  person of another role gets a 403 page;
* every POST carries the session's CSRF token in a hidden field (:func:`csrf_field` in
  templates), checked before any view runs;
* the session cookie is signed, HttpOnly and SameSite=Strict, and it only ever
  authenticates pages: ``/api/v1`` reads bearer tokens alone.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the pages on ``app``: the blueprint, its views, the session settings."""
    from registry.api.common import IdConverter

    # Every module of views attaches its routes to ``bp``: one line per module.
    from registry.web import (
        account,  # noqa: F401  sign-in, invitations, own tokens, people
        dashboard,  # noqa: F401  the bureau's dashboard
        listing,  # noqa: F401  the public directory, the carrier list and pages, exports
        operator,  # noqa: F401  my carriers, edits, reports, alerts
        partner,  # noqa: F401  registrations, the bureau's review queue
    )
    from registry.web.pages import RegistrySessionInterface, bp, csrf_field, csrf_token

    app.url_map.converters["id"] = IdConverter
    app.session_interface = RegistrySessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="registry_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=app.config["SECURE_COOKIES"],
        PERMANENT_SESSION_LIFETIME=app.config["SESSION_HOURS"] * 3600,
    )
    app.jinja_env.globals.update(csrf_field=csrf_field, csrf_token=csrf_token)
    app.register_blueprint(bp)
