"""What every resource shares: problem+json errors, pagination headers, ETags, sorting."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlencode

import peewee as pw
from flask import Response, json, request
from flask_smorest import Api as SmorestApi
from flask_smorest import abort
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from schemas.common import ProblemSchema

PROBLEM_JSON = "application/problem+json"

#: Ids beyond this are no row of ours; refusing them in routing keeps SQLite from overflowing.
MAX_ID = 2**53 - 1


class IdConverter(IntegerConverter):
    """``<id:name>``: a positive integer id, too-large ids are a 404 like any unknown id."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=MAX_ID)


def problem(
    status: int, detail: str | None = None, errors: dict | None = None, headers: dict | None = None
) -> Response:
    """An RFC 9457 problem+json response."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or HTTPStatus(status).description,
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _field_messages(value, errors: dict, field: str = "", path: str = "") -> None:
    """Nested marshmallow messages keyed by top-level field, the inner path leading the text:
    ``{"partners": ["0.organization_id: Missing data for required field."]}``."""
    if isinstance(value, dict):
        for key, inner in value.items():
            key = str(key)
            if not field:
                _field_messages(inner, errors, "_body" if key == "_schema" else key, "")
            elif key in ("_schema", "value"):
                _field_messages(inner, errors, field, path)
            else:
                _field_messages(inner, errors, field, f"{path}.{key}" if path else key)
    elif isinstance(value, list | tuple):
        for item in value:
            _field_messages(item, errors, field, path)
    else:
        text = f"{path}: {value}" if path else str(value)
        errors.setdefault(field or "_body", []).append(text)


def _flatten(messages) -> tuple[dict, str | None]:
    """webargs groups messages by location (``json``, ``query``…): clients want them by field."""
    errors: dict = {}
    detail = None
    for location, value in (messages or {}).items():
        if isinstance(value, dict):
            _field_messages(value, errors)
        else:
            text = " ".join(value) if isinstance(value, list) else str(value)
            if location == "json" and text == "Invalid input type.":
                text = "The request body must be a JSON object."
            detail = text
    return errors, detail


class Api(SmorestApi):
    """flask-smorest's Api answering every HTTP error as RFC 9457 problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        """Document every error response as ``application/problem+json``."""
        self.spec.components.schema("Problem", schema=self.ERROR_SCHEMA)
        for status in HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["content"] = {PROBLEM_JSON: {"schema": "Problem"}}
            self.spec.components.response(status.name, response, lazy=True)
        self.spec.components.response(
            "DEFAULT_ERROR",
            {
                "description": "Default error response",
                "content": {PROBLEM_JSON: {"schema": "Problem"}},
            },
            lazy=True,
        )

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        headers = dict(data.get("headers") or {})
        # Keep what werkzeug adds itself, e.g. ``Allow`` on 405 and ``WWW-Authenticate``.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                headers.setdefault(name, value)
        errors, detail = _flatten(data.get("messages") or data.get("errors"))
        detail = data.get("message") or detail
        if detail is None:
            if errors and error.code == 422:
                location = next(iter(data.get("messages") or {}), "json")
                detail = (
                    "The request body has invalid fields."
                    if location == "json"
                    else "The request has invalid parameters."
                )
            else:
                detail = error.description
        return problem(error.code or 500, detail, errors or None, headers)


def error_responses(blp, *codes: int):
    """Document the error answers of a view (each refers to the shared problem response)."""

    def decorator(view):
        for code in codes:
            view = blp.alt_response(code, response=HTTPStatus(code).name)(view)
        return view

    return decorator


# --- pagination -----------------------------------------------------------------------

#: The headers of every list answer, for the OpenAPI document.
LIST_HEADERS = {
    "X-Total-Count": {"description": "Items in all pages", "schema": {"type": "integer"}},
    "Link": {"description": "RFC 8288 first/prev/next/last", "schema": {"type": "string"}},
}


def paginate(query: pw.ModelSelect, page: int, page_size: int) -> tuple[list, dict]:
    """One page of ``query`` (LIMIT/OFFSET in SQL) and the ``X-Total-Count`` and ``Link``
    headers of SPEC §4. A page past the end is an empty page, not an error."""
    total = query.order_by().count()
    rows = list(query.paginate(page, page_size))
    return rows, page_headers(total, page, page_size)


def paginate_list(items: list, page: int, page_size: int) -> tuple[list, dict]:
    """One page of a list already filtered and sorted in Python, with the same headers."""
    start = (page - 1) * page_size
    return items[start : start + page_size], page_headers(len(items), page, page_size)


def page_headers(total: int, page: int, page_size: int) -> dict:
    """``X-Total-Count`` and the RFC 8288 ``Link`` header (first/prev/next/last)."""
    last = max(1, -(-total // page_size))
    links = {"first": 1, "last": last}
    if page > 1:
        links["prev"] = min(page - 1, last)
    if page < last:
        links["next"] = page + 1
    args = request.args.to_dict(flat=False)
    parts = []
    for rel in ("first", "prev", "next", "last"):
        if rel in links:
            args.update(page=[str(links[rel])], page_size=[str(page_size)])
            parts.append(f'<{request.path}?{urlencode(args, doseq=True)}>; rel="{rel}"')
    return {"X-Total-Count": str(total), "Link": ", ".join(parts)}


# --- ETags ----------------------------------------------------------------------------


def etag_of(prefix: str, row) -> str:
    """A strong ETag naming the object and its version, e.g. ``"c12-v7"``."""
    return f'"{prefix}{row.id}-v{row.version}"'


def check_if_match(prefix: str, row) -> None:
    """428 without ``If-Match``, 412 when it names another version (SPEC §4)."""
    header = request.headers.get("If-Match")
    if header is None:
        abort(428, message="This change needs an If-Match header with the ETag you last read.")
    current = etag_of(prefix, row)
    candidates = [part.strip().removeprefix("W/") for part in header.split(",")]
    if "*" not in candidates and current not in candidates:
        abort(412, message=f"The object changed since you read it; its ETag is now {current}.")


def not_modified(etag: str) -> bool:
    """Whether the request's ``If-None-Match`` already names ``etag``."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    return "*" in header or etag in [part.strip().removeprefix("W/") for part in header.split(",")]


LIST_HEADERS = {
    "X-Total-Count": {"description": "Items in all pages", "schema": {"type": "integer"}},
    "Link": {"description": "RFC 8288 first/prev/next/last", "schema": {"type": "string"}},
}


def read_with_etag(prefix: str, row, present) -> tuple:
    """A single-resource GET: 304 when ``If-None-Match`` names the current ETag, else
    ``present()`` (called only then) with the ETag header."""
    etag = etag_of(prefix, row)
    if not_modified(etag):
        return "", 304, {"ETag": etag}
    return present(), 200, {"ETag": etag}


IF_MATCH_PARAMETER = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "schema": {"type": "string"},
    "description": "The ETag of the version you read (428 without it, 412 when stale).",
}


def etag_protected(blp):
    """Document ``If-Match`` as required, and the 412 / 428 answers, on a write view."""

    def decorator(view):
        view = blp.doc(parameters=[IF_MATCH_PARAMETER])(view)
        return error_responses(blp, 412, 428)(view)

    return decorator
