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
  and, for validation, `errors: {field: [messages]}`. Any operation may answer 503 with
  `Retry-After` when the database is busy or unreachable: nothing was changed; retry.
* Lists take `page` (from 1) and `page_size` (1-100, default 20) and answer a JSON array
  with `X-Total-Count` and RFC 8288 `Link` headers. Unknown filter values are 422; unknown
  query parameters are ignored.
* Lists answer with RFC 8288 `Link` headers holding absolute URLs (follow `next` as is).
* Single-resource GETs return an `ETag` naming the object, its version and the
  representation (`"c12-v7"`; the public view of a carrier is `"c12-v7-public"`), and answer
  304 to an `If-None-Match` holding it. Answers vary on `Authorization` and
  `Accept-Language`. PATCH, PUT and DELETE need `If-Match` (428 without it, 412 when stale,
  `*` for any version): of two writers holding the same ETag exactly one succeeds. A PATCH
  must name at least one field (422). Answers that show a secret once are `no-store`.
* `Authorization: Bearer <token>`; without a token only accredited carriers and their
  public fields can be read. 401: no or a bad token; 403: outside the caller's rights;
  404 for a carrier the caller may not see at all. `GET /me` says who you are.
* Every response carries `X-Request-ID` (an incoming one is kept); every write is one
  record of the audit trail (`/changes`) with that request id.
* Lifecycle: status, level, accreditation and validity change only through milestones
  (`POST /carriers/{id}/milestones`, answered as `{"milestone", "carrier"}`); a wrong one is
  voided, never deleted, and the carrier replayed. `?as_of=YYYY-MM-DD` on the carrier list,
  one carrier and the stats answers with the state replayed up to that day.
* Derived dates (`valid_until`, `next_evaluation_on`, `next_report_due_on`) follow the
  evaluation policy of the carrier's type and level; editing a policy moves them.
* Annual report metrics are numbers ≥ 0 keyed by the metrics of the carrier's type (see the
  `metrics` field of AnnualReport); targets compute their progress on every read.
* Calendar feeds (`…/calendar.ics`) also accept the caller's feed key in `?key=` (see
  `/me/feed-key`), since calendar clients cannot send headers. A key dies with its
  principal's tokens; bureau admins list and revoke keys under `/feed-keys`.
* Errors speak Chinese when `Accept-Language` prefers `zh` (title, detail and every field
  message), English otherwise. `GET /vocabulary` lists every code with its Chinese label.
* `q` finds names as people type them: any part of a carrier's or its host's name, pinyin
  or pinyin initials (`jndsgzs`), either width of brackets, any case; `sort=name` is pinyin
  order.
* Bodies are JSON: 415 without `Content-Type: application/json`, 400 for malformed JSON,
  422 for `NaN`/`Infinity`, lone surrogates, NUL characters or nesting deeper than 32.
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
