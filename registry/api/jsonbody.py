"""The request body, parsed once and strictly, before any view runs.

One ``before_request`` hook (:func:`parse_body`) decides what a body may be, for every
endpoint of the API:

* a body sent with a method that takes one (POST, PUT, PATCH) must be declared
  ``application/json`` (415 otherwise: curl's ``-d`` sends form encoding, which used to be
  ignored silently and answered 200 with nothing changed);
* a JSON body, with any method, must be JSON (400) that this service accepts (422): no
  ``NaN`` or ``Infinity``, no lone surrogate, no NUL character, nesting at most
  :data:`registry.jsontext.MAX_DEPTH` deep;
* the query string may not hold NUL characters either (422);
* a path registered with :func:`accept_upload` (the spreadsheet import) takes a
  ``multipart/form-data`` file upload instead, up to its own size setting (413 beyond).

The parsed document is what Flask's ``request.get_json()`` and webargs (``@blp.arguments``)
then see, so the body is parsed exactly once.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import current_app, g, request
from flask.json.provider import DefaultJSONProvider
from webargs import core
from webargs.flaskparser import FlaskParser

from registry import jsontext
from registry.api.common import problem

#: Methods whose body is the request's content (a body on GET or DELETE means nothing here).
BODY_METHODS = ("POST", "PUT", "PATCH")
API_PREFIX = "/api/v1/"
NUL_MESSAGE = "Text may not contain the NUL character (U+0000)."
#: Paths that take a ``multipart/form-data`` file upload instead of JSON, each with the
#: setting that limits its size (:func:`accept_upload`).
UPLOADS: dict[str, str] = {}
#: Bytes allowed for the multipart framing around an uploaded file.
UPLOAD_OVERHEAD = 64 * 1024


def accept_upload(path: str, max_bytes_setting: str) -> None:
    """Let ``path`` take a multipart file upload of at most the setting's bytes (its view
    reads the file; a JSON body is still parsed strictly, any other type is a 415)."""
    UPLOADS[path] = max_bytes_setting


def is_json_mimetype(mimetype: str) -> bool:
    """``application/json`` or a ``+json`` type such as ``application/merge-patch+json``."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def parse_body():
    """The before-request hook: refuse what no view can use, keep the parsed body in ``g``."""
    g.json_body = core.missing
    paths = [name for name, value in request.args.items(multi=True) if jsontext.NUL in value]
    if paths:
        return problem(422, "The request has invalid fields.", {p: [NUL_MESSAGE] for p in paths})
    if not request.path.startswith(API_PREFIX):
        return None
    upload_limit = UPLOADS.get(request.path)
    if upload_limit is not None:
        # A file upload: its own size limit, and its multipart body parsed by the view.
        request.max_content_length = current_app.config[upload_limit] + UPLOAD_OVERHEAD
        if request.mimetype == "multipart/form-data":
            return None
    raw = request.get_data(cache=True)
    if not raw:
        return None
    if not is_json_mimetype(request.mimetype):
        if request.method not in BODY_METHODS:
            return None
        expected = (
            "the file as 'multipart/form-data' (field `file`)"
            if upload_limit is not None
            else "the body as JSON with 'Content-Type: application/json'"
        )
        return problem(
            415, f"Send {expected} (it came as {request.mimetype or 'no content type'!r})."
        )
    try:
        body = jsontext.parse(raw)
    except jsontext.InvalidJSON as error:
        return problem(400, str(error))
    except jsontext.UnacceptableJSON as error:
        return problem(422, str(error), error.errors)
    g.json_body = body
    # Flask's own cache of get_json() (normal, silent): views calling it get this document.
    request._cached_json = (body, body)
    return None


def document_body_errors(spec) -> None:
    """Document what :func:`parse_body` answers on every operation it guards: 415 on each
    method that takes a body, 400 and 422 on each operation that declares one."""
    for operations in spec._paths.values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or method.upper() not in BODY_METHODS:
                continue
            codes = (400, 415, 422) if "requestBody" in operation else (415,)
            responses = operation.setdefault("responses", {})
            for code in codes:
                name = HTTPStatus(code).name
                responses.setdefault(str(code), spec.components.get_ref("response", name))


#: Any text without NUL, as a JSON Schema pattern.
NO_NUL_PATTERN = "^[^\\x00]*$"


def document_no_nul(spec) -> None:
    """State on every string of the document (body fields and query parameters) that it
    holds no NUL character, unless its pattern, enum or format already rules NUL out:
    :func:`parse_body` refuses one anywhere (422)."""

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and not {"pattern", "enum", "format"} & set(node):
                node["pattern"] = NO_NUL_PATTERN
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(spec.components.schemas)
    for operations in spec._paths.values():
        for operation in operations.values():
            if isinstance(operation, dict):
                for parameter in operation.get("parameters", []):
                    if isinstance(parameter, dict) and parameter.get("in") == "query":
                        walk(parameter.get("schema"))


def load_json(req, schema):
    """webargs' ``json`` location: the body parsed by :func:`parse_body`."""
    return g.get("json_body", core.missing)


def use_strict_body(parser: FlaskParser) -> None:
    """Make ``parser`` read JSON bodies from :func:`parse_body` instead of parsing again.

    Set on the instance, so that other webargs parsers in the process are untouched."""
    parser.__location_map__ = {**parser.__location_map__, "json": load_json}


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider writing valid JSON whatever is stored: a ``NaN`` or a lone
    surrogate kept from before the strict parse becomes null or U+FFFD, not invalid JSON
    (or a 500) in every list that shows it."""

    def dumps(self, obj, **kwargs) -> str:
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        return jsontext.dumps(obj, **kwargs)


def install(app) -> None:
    """The strict body hook and the safe JSON writer on ``app`` (settings of its provider
    kept)."""
    provider = SafeJSONProvider(app)
    provider.ensure_ascii = app.json.ensure_ascii
    provider.sort_keys = app.json.sort_keys
    provider.compact = app.json.compact
    app.json = provider
    app.before_request(parse_body)
