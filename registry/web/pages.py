"""What every page shares: the blueprint, rendering, the session and who is signed in,
CSRF, guards, error pages (see ``registry.web``)."""

from __future__ import annotations

import functools
import hmac
import re
import secrets
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from registry import vocabulary
from registry.errors import DomainError
from registry.i18n import translate
from registry.lifecycle import LifecycleError

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)

#: The session keys: the person's principal id and session generation, the CSRF token.
SESSION_PRINCIPAL = "pid"
SESSION_GENERATION = "gen"
SESSION_CSRF = "csrf"
CSRF_FIELD = "csrf_token"

#: Paths the pages never serve: the JSON API, its documents, health and calendar feeds.
NOT_PAGES = ("/api/", "/calendar", "/healthz", "/readyz")


# --- the session ---------------------------------------------------------------------------


class RegistrySessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with the signing key read when first needed:
    ``REGISTRY_SECRET_KEY``, or a random key kept in the database so that every worker
    signs alike. Requests outside the pages (the API, health) neither read nor set it."""

    def open_session(self, app, request):
        if _not_a_page(request.path):
            return None
        ensure_secret_key(app)
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if session is None or _not_a_page(request.path):
            return None
        return super().save_session(app, session, response)

    def make_null_session(self, app):
        from flask.sessions import NullSession

        return NullSession()


def _not_a_page(path: str) -> bool:
    """Whether ``path`` is outside the pages (no session there)."""
    return path.startswith(NOT_PAGES)


def ensure_secret_key(app: Flask) -> None:
    """Give ``app`` its session signing key on first use: ``REGISTRY_SECRET_KEY``, or the
    random key the database keeps for every process (made by the first one to ask)."""
    if app.secret_key:
        return
    from registry import people

    app.secret_key = app.config["SECRET_KEY"] or people.site_secret("session")


def sign_in_session(principal) -> None:
    """Start a page session for ``principal`` (a fresh CSRF token; the old session's
    contents, if any, are dropped so that a session id set before sign-in is not kept)."""
    session.clear()
    session.permanent = True
    session[SESSION_PRINCIPAL] = principal.id
    session[SESSION_GENERATION] = principal.session_generation
    session[SESSION_CSRF] = secrets.token_urlsafe(32)


def sign_out_session() -> None:
    """End this browser's page session."""
    session.clear()


def _load_principal() -> None:
    """Set ``g.principal``/``g.token``/``g.actor`` from the session, as the API's
    ``authenticate`` does from a token: a session of a disabled person, or one older than
    the person's current session generation, signs nobody in."""
    from registry import people

    g.principal = None
    g.token = None
    g.actor = None
    principal_id = session.get(SESSION_PRINCIPAL)
    if principal_id is None:
        return
    found = people.principal_for_session(principal_id, session.get(SESSION_GENERATION))
    if found is None:
        session.clear()
        return
    g.principal = found
    g.actor = found.name


# --- CSRF ----------------------------------------------------------------------------------


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get(SESSION_CSRF)
    if not token:
        token = session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return token


def csrf_field() -> Markup:
    """The hidden form field every POST form carries."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token())


def _check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = session.get(SESSION_CSRF)
    sent = request.form.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(str(expected), sent):
        abort(400, description="表单已过期或来源不明，请刷新页面后重新提交。")


# --- views' helpers -------------------------------------------------------------------------


def render(template: str, status: int = 200, **context):
    """Render a page: ``template`` extends ``base.html``; ``status`` for error pages and
    forms sent back with errors (422)."""
    return render_template(template, **context), status


def signed_in(*roles: str):
    """Guard a view: a signed-in person holding one of ``roles`` (any role when none is
    named). Anonymous callers go to the sign-in page and come back; others get a 403."""

    def decorator(view):
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            who = g.get("principal")
            if who is None:
                return redirect(url_for("web.sign_in", next=request.full_path.rstrip("?")))
            if roles and who.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return guarded

    return decorator


def safe_next(target: str | None, fallback: str) -> str:
    """``target`` when it is a path of this site (never another host), else ``fallback``."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    if "\\" in target:
        return fallback
    return target


def home_for(principal) -> str:
    """Where a person lands after signing in: the bureau on its dashboard, an operator on
    its carriers, a partner on its registrations."""
    from registry import access

    endpoints = {
        access.OPERATOR: "web.my_carriers",
        access.PARTNER: "web.my_registrations",
    }
    endpoint = endpoints.get(principal.role, "web.dashboard")
    if endpoint not in _endpoints():
        endpoint = "web.account"
    return url_for(endpoint)


def _endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


CHINESE = re.compile(r"[\u4e00-\u9fff]")

ERROR_TITLES = {
    400: "请求无效",
    401: "请先登录",
    403: "无权访问",
    404: "页面不存在",
    405: "不支持的操作",
    409: "冲突",
    412: "内容已被他人修改",
    413: "提交内容过大",
    422: "填写有误",
    429: "尝试次数过多",
    500: "服务器出错",
    503: "服务暂不可用",
}


def error_page(status: int, detail: str | None = None, headers: dict | None = None):
    """An HTML error page in Chinese."""
    body = render_template(
        "error.html", status=status, title=ERROR_TITLES.get(status, "出错了"), detail=detail
    )
    return body, status, headers or {}


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    status = error.code or 500
    if status == 401:
        return redirect(url_for("web.sign_in", next=request.full_path.rstrip("?")))
    data = getattr(error, "data", None) or {}
    # registry.access says why in English (abort(…, message=…)): the page says it in Chinese.
    return error_page(status, _in_chinese(data.get("message") or error.description))


def _in_chinese(text: str | None) -> str | None:
    """``text`` through the message catalogue, or None when it has no Chinese for it."""
    translated = translate(text) if text else ""
    return translated if CHINESE.search(translated) else None


def _database_error(error: BaseException):
    """The database busy or away: a page saying nothing was changed (503, ``Retry-After``),
    as the API says it in problem+json; any other database error stays a 500."""
    from registry import db
    from registry.api import RETRY_AFTER

    reason = db.unavailable(error)
    if reason is None:
        raise error
    return error_page(
        503,
        "数据库暂时繁忙或不可用，本次未做任何修改，请稍后重试。",
        {"Retry-After": str(RETRY_AFTER[reason])},
    )


def register_database_errors() -> None:
    """Answer database errors on pages with :func:`_database_error` (once, at import)."""
    from registry.api import DATABASE_ERRORS

    for error_class in DATABASE_ERRORS:
        bp.register_error_handler(error_class, _database_error)


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    return error_page(error.status, _in_chinese(error.message))


@bp.errorhandler(LifecycleError)
def _lifecycle_error(error: LifecycleError):
    return error_page(409, _in_chinese(str(error)))


@bp.after_request
def _page_headers(response):
    """Pages load nothing from elsewhere (closed networks) and are never framed; a page of a
    signed-in person is not kept by any cache."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if g.get("principal") is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.before_request
def _before_page():
    _load_principal()
    _check_csrf()


@bp.app_context_processor
def _labels():
    """The Chinese labels of every code, for templates: ``labels.types[carrier.type]``."""
    from flask import current_app

    return {
        "labels": {
            "types": vocabulary.CARRIER_TYPES,
            "levels": vocabulary.level_labels(current_app.config),
            "statuses": vocabulary.CARRIER_STATUSES,
            "roles": vocabulary.ROLE_LABELS,
            "milestones": vocabulary.MILESTONE_KINDS,
            "reports": vocabulary.REPORT_STATUSES,
            "alerts": vocabulary.ALERT_KINDS,
            "targets": vocabulary.TARGET_STATES,
            "organization_kinds": vocabulary.ORGANIZATION_KINDS,
            "partner_roles": vocabulary.PARTNER_ROLES,
            "results": vocabulary.EVALUATION_RESULTS,
            "alert_statuses": vocabulary.ALERT_STATUSES,
            "target_metrics": vocabulary.TARGET_METRICS,
            "metrics": vocabulary.REPORT_METRICS,
            "actions": vocabulary.CHANGE_ACTION_LABELS,
            "objects": vocabulary.CHANGE_OBJECT_LABELS,
        },
        "current": g.get("principal"),
        # Where the signed-in person's pages start (their "home"), for links back.
        "home_url": home_for(g.principal) if g.get("principal") is not None else "/",
        # Links to pages of other modules show only where those pages exist.
        "web_endpoints": _endpoints(),
    }


register_database_errors()
