"""TEMPORARY stand-in for weba's skeleton (the pages' blueprint, sign-in, base.html): replaced
by ``git merge weba``."""

from __future__ import annotations

from flask import Flask, abort, request

from registry import access


def require_signed_in(*roles: str):
    """The signed-in person (401/403 otherwise)."""
    who = access.principal()
    if who is None:
        abort(401)
    if roles and who.role not in roles:
        abort(403)
    return who


def register_web(app: Flask) -> None:
    from registry.web import dashboard, listing

    @app.before_request
    def _pages_principal():
        if not request.path.startswith(("/api/", "/calendar")):
            if request.headers.get("Authorization"):
                access.authenticate()

    app.register_blueprint(listing.bp)
    app.register_blueprint(dashboard.bp)
