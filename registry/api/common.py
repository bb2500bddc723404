"""What every resource shares: problem+json errors, pagination headers, ETags, sorting."""

from __future__ import annotations

import re
from http import HTTPStatus
from urllib.parse import urlencode

import marshmallow as ma
import peewee as pw
from flask import Response, json, request
from flask_smorest import Api as SmorestApi
from flask_smorest import Blueprint, abort
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from registry.db import apply_sort
from registry.i18n import translate, translate_errors
from schemas.common import ProblemSchema

PROBLEM_JSON = "application/problem+json"

#: Ids beyond this are no row of ours; refusing them in routing keeps SQLite from overflowing.
MAX_ID = 2**53 - 1


class IdConverter(IntegerConverter):
    """``<id:name>``: a positive integer id, too-large ids are a 404 like any unknown id."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=MAX_ID)


def problem(
    status: int,
    detail: str | None = None,
    errors: dict | None = None,
    headers: dict | None = None,
    extensions: dict | None = None,
) -> Response:
    """An RFC 9457 problem+json response, its title, detail and field messages in the
    caller's language (:mod:`registry.i18n`); ``extensions``: further members, e.g. an
    import's report."""
    body = {
        "type": "about:blank",
        "title": translate(HTTPStatus(status).phrase),
        "status": status,
        "detail": translate(detail or HTTPStatus(status).description),
    }
    if errors:
        body["errors"] = translate_errors(errors)
    body.update(extensions or {})
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
    "Link": {
        "description": "RFC 8288 first/prev/next/last, as absolute URLs",
        "schema": {"type": "string"},
    },
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
    """``X-Total-Count`` and the RFC 8288 ``Link`` header (first/prev/next/last), with
    absolute URLs so that a client can follow ``links["next"]["url"]`` as it is."""
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
            parts.append(f'<{request.base_url}?{urlencode(args, doseq=True)}>; rel="{rel}"')
    return {"X-Total-Count": str(total), "Link": ", ".join(parts)}


def sort_columns(query_schema: type[ma.Schema], model: type[pw.Model], **columns) -> dict:
    """The columns of the ``sort`` keys the query schema declares (its one list of keys):
    the model's column of the same name unless ``columns`` names another."""
    keys = query_schema._declared_fields["sort"].metadata["sort_keys"]
    return {key: columns.get(key) or getattr(model, key) for key in keys}


# --- ETags and conditional requests ----------------------------------------------------

#: Each resource's ETag prefix, claimed once by its blueprint: an ETag names one object.
ETAG_PREFIXES: dict[str, str] = {}

#: Headers of an answer that shows a secret once: no cache or proxy may keep it.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

#: The documentation of that header.
NO_STORE_HEADER = {
    "Cache-Control": {
        "description": "`no-store`: the answer shows a secret once; no cache may keep it.",
        "schema": {"type": "string"},
    }
}

#: What selects the representation of an answer: caches must key on it.
VARY = ("Authorization", "Accept-Language")
VARY_HEADER = ", ".join(VARY)

ETAG_HEADER = {
    "description": "The version of this representation (for If-None-Match and If-Match).",
    "schema": {"type": "string"},
}
IF_NONE_MATCH_PARAMETER = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": "An ETag you hold: 304 without a body when it is still current.",
}


def vary_on_caller(response: Response) -> Response:
    """``Vary: Authorization, Accept-Language`` on every API answer: the caller's token decides
    which fields (and which objects) it sees."""
    if request.path.startswith("/api/"):
        # The header's text, not ``response.vary`` (werkzeug parses a HeaderSet on each read:
        # a tenth of a ``GET /carriers/{id}``'s CPU).
        current = response.headers.get("Vary")
        if not current:
            response.headers["Vary"] = VARY_HEADER
        else:
            present = {value.strip().lower() for value in current.split(",")}
            missing = [name for name in VARY if name.lower() not in present]
            if missing:
                response.headers["Vary"] = ", ".join([current, *missing])
    return response


def _candidates(header: str) -> list[str]:
    return [part.strip().removeprefix("W/") for part in header.split(",") if part.strip()]


def not_modified(etag: str) -> bool:
    """Whether the request's ``If-None-Match`` already names ``etag``."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    candidates = _candidates(header)
    return "*" in candidates or etag in candidates


def claim_etag_prefix(prefix: str, owner: str) -> str:
    """Reserve ``prefix`` for the ETags of ``owner``'s objects (a second owner is an error)."""
    if ETAG_PREFIXES.setdefault(prefix, owner) != owner:
        raise ValueError(f"ETag prefix {prefix!r} belongs to {ETAG_PREFIXES[prefix]}.")
    return prefix


def etag_of(prefix: str, row) -> str:
    """A strong ETag naming the object and its version, e.g. ``"c12-v7"`` (objects without a
    blueprint of their own; resources use :meth:`ResourceBlueprint.etag`)."""
    return f'"{prefix}{row.id}-v{row.version}"'


def check_if_match(prefix: str, row) -> None:
    """428 without ``If-Match``, 412 when it names another version: for objects whose write
    has no version column (the calendar feed key); versioned rows use :mod:`registry.writes`."""
    header = request.headers.get("If-Match")
    if header is None:
        abort(428, message="This change needs an If-Match header with the ETag you last read.")
    current = etag_of(prefix, row)
    candidates = _candidates(header)
    if "*" not in candidates and current not in candidates:
        abort(412, message=f"The object changed since you read it; its ETag is now {current}.")


class ResourceBlueprint(Blueprint):
    """A resource's blueprint with the plumbing every resource shares, declared once.

    ``etag_prefix`` names its objects in ETags (``"c12-v7"`` for carrier 12 at version 7;
    each resource has its own prefix). The decorators document list answers (``X-Total-Count``,
    ``Link``), single reads (``ETag``, ``If-None-Match``, 304), creations (``ETag``,
    ``Location``) and ``If-Match`` writes (428, 412); the methods answer them.
    """

    def __init__(self, *args, etag_prefix: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.etag_prefix = claim_etag_prefix(etag_prefix, self.name)

    def arguments(self, schema, *args, **kwargs):
        """flask-smorest's ``arguments``, a schema class made an instance once here: webargs
        would make one per request (a fifth of a small GET's CPU)."""
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)

    # --- documentation

    def list_response(self, schema: ma.Schema):
        """A paginated list: 200 with ``X-Total-Count`` and ``Link``."""
        return self.response(200, schema, headers=LIST_HEADERS)

    def listing(self, query_schema: type[ma.Schema], schema: ma.Schema, *codes: int):
        """A list view: its query parameters, the paginated answer and its error answers."""

        def decorator(view):
            view = error_responses(self, *codes)(view)
            view = self.list_response(schema)(view)
            return self.arguments(query_schema, location="query")(view)

        return decorator

    def read_response(self, schema: ma.Schema, conditional: bool = True):
        """A single-resource read: 200 with its ``ETag``; ``If-None-Match`` and 304 too unless
        the answer changes without its version (``conditional=False``)."""
        ok = self.response(200, schema, headers={"ETag": ETAG_HEADER})
        if not conditional:
            return ok

        def decorator(view):
            view = self.doc(parameters=[IF_NONE_MATCH_PARAMETER])(view)
            view = self.alt_response(
                304,
                description="Not modified: the ETag in If-None-Match is current",
                headers={"ETag": ETAG_HEADER},
            )(view)
            return ok(view)

        return decorator

    def write_response(self, schema: ma.Schema, status: int = 200, headers: dict | None = None):
        """An answer holding the object as written: its new ``ETag`` (and ``Location`` on 201)."""
        documented = {"ETag": ETAG_HEADER, **(headers or {})}
        if status == 201:
            documented["Location"] = {
                "description": "The URL of the new object.",
                "schema": {"type": "string"},
            }
        return self.response(status, schema, headers=documented)

    def etag_protected(self, view):
        """Document ``If-Match`` as required, and the 412 / 428 answers, on a write view."""
        return etag_protected(self)(view)

    # --- answers

    def page(self, query: pw.ModelSelect, args: dict, present, sorts=None, default=None):
        """The list answer: ``query`` sorted by ``args["sort"]`` among ``sorts`` (else
        ``default``; ``id`` breaks ties), one page of it shown by ``present(rows)``, and the
        pagination headers."""
        if sorts is not None:
            query = apply_sort(query, args.get("sort"), sorts, default)
        rows, headers = paginate(query, args["page"], args["page_size"])
        return present(rows), 200, headers

    def etag(self, row, variant: str = "") -> str:
        """A strong ETag naming the object, its version and the representation, e.g.
        ``"c12-v7"``, or ``"c12-v7-public"`` for the public fields only."""
        return f'"{self.etag_prefix}{row.id}-v{row.version}{"-" + variant if variant else ""}"'

    def read(self, row, present, variant: str = "") -> tuple:
        """A single-resource GET: 304 when ``If-None-Match`` names the current ETag, else
        ``present()`` (called only then) with the ETag header."""
        etag = self.etag(row, variant)
        if not_modified(etag):
            return "", 304, {"ETag": etag}
        return present(), 200, {"ETag": etag}

    def written(self, body, row, status: int = 200, headers: dict | None = None) -> tuple:
        """The answer of a write: the body with the object's new ETag."""
        return body, status, {"ETag": self.etag(row), **(headers or {})}

    def created(self, body, row, location: str | None = None, headers: dict | None = None):
        """The 201 answer of a creation: ETag and ``Location`` (default: the list URL / id)."""
        location = location or f"{self.url_prefix}/{row.id}"
        return self.written(body, row, 201, {"Location": location, **(headers or {})})

    def expected_version(self, object_id: int) -> frozenset[int] | None:
        """The versions ``If-Match`` accepts for the object (``None`` for ``*``): 428 without
        the header, 412 when it names no version of this object. The domain compares them
        with the stored version inside its write transaction (:mod:`registry.writes`)."""
        header = request.headers.get("If-Match")
        if header is None:
            abort(428, message="This change needs an If-Match header with the ETag you last read.")
        candidates = _candidates(header)
        if "*" in candidates:
            return None
        versions = self.versions_named(candidates, object_id)
        if not versions:
            abort(
                412,
                message="If-Match names no version of this object; send its ETag as you last "
                f"read it (like {self.etag_prefix}{object_id}-v1 in quotes).",
            )
        return versions

    def versions_named(self, etags: list[str], object_id: int) -> frozenset[int]:
        """The versions of object ``object_id`` that ``etags`` name (e.g. ``"c12-v7"`` → 7):
        from ``If-Match``, or from the hidden field of a page's edit form."""
        pattern = re.compile(rf'"{re.escape(self.etag_prefix)}{object_id}-v([0-9]{{1,18}})"')
        return frozenset(
            int(found.group(1))
            for found in map(pattern.fullmatch, (etag.strip() for etag in etags))
            if found
        )

    def get_or_404(self, query: pw.ModelSelect, object_id: int, what: str):
        """The row ``object_id`` of ``query`` (the caller's scope), or 404 naming ``what``."""
        row = query.where(query.model.id == object_id).first()
        if row is None:
            abort(404, message=f"No {what} {object_id}.")
        return row


IF_MATCH_PARAMETER = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "schema": {
        "type": "string",
        "minLength": 1,
        "pattern": r'^(\*|(W/)?"[^"]+"(\s*,\s*(W/)?"[^"]+")*)$',
    },
    "description": "The ETag of the version you read, or `*` (428 without it, 412 when stale).",
}


def etag_protected(blp):
    """Document ``If-Match`` as required, and the 412 / 428 answers, on a write view."""

    def decorator(view):
        view = blp.doc(parameters=[IF_MATCH_PARAMETER])(view)
        return error_responses(blp, 412, 428)(view)

    return decorator
