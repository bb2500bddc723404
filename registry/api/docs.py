"""Interactive API docs at /api/docs, served from the installed Swagger UI (no CDN)."""

from __future__ import annotations

from flask import Blueprint, send_from_directory
from swagger_ui_bundle import swagger_ui_path

bp = Blueprint("docs", __name__)

API_DESCRIPTION = """\
Registry of a city's talent carriers (人才载体), their level, accreditation history and
deadlines.

* JSON in and out, UTF-8; dates `YYYY-MM-DD`, timestamps ISO 8601 with offset in the
  configured time zone (default Asia/Shanghai).
* Errors are RFC 9457 `application/problem+json` with `type`, `title`, `status`, `detail`
  and, for validation, `errors: {field: [messages]}`.
* Lists take `page` (from 1) and `page_size` (1-100, default 20) and answer a JSON array
  with `X-Total-Count` and RFC 8288 `Link` headers. Unknown filter values are 422; unknown
  query parameters are ignored.
* Single-resource GETs return an `ETag`; PATCH and DELETE need `If-Match`
  (428 without it, 412 when stale).
* `Authorization: Bearer <token>`; without a token only accredited carriers and their
  public fields can be read. Calendar feeds (`…/calendar.ics`) also accept the caller's
  feed key in `?key=` (see `/me/feed-key`), since calendar clients cannot send headers.
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Carrier Registry API</title>
<link rel="stylesheet" href="/api/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>"""


@bp.get("/api/docs")
@bp.get("/api/docs/")
def docs_page():
    """Swagger UI over the OpenAPI document."""
    return PAGE, 200, {"Content-Type": "text/html; charset=utf-8"}


@bp.get("/api/docs/static/<path:filename>")
def docs_static(filename: str):
    return send_from_directory(swagger_ui_path, filename)
