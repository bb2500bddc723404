"""The HTTP API: one blueprint per resource, problem+json errors, the OpenAPI document."""

from __future__ import annotations

import functools
import logging
import random
import sqlite3
import time

import peewee as pw
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, g, request
from flask_smorest import Blueprint
from marshmallow import fields as ma_fields
from marshmallow import validate as ma_validate
from playhouse.pool import MaxConnectionsExceeded

from registry import db, places
from registry.api import jsonbody
from registry.api.common import Api, IdConverter, problem, vary_on_caller

log = logging.getLogger(__name__)

#: Runs of a write request that hit a PostgreSQL serialization failure or deadlock.
WRITE_ATTEMPTS = 3
#: Seconds a client is told to wait when the database is busy, or away.
RETRY_AFTER = {"busy": 1, "unreachable": 5, "full": 60, "read-only": 60}
#: Every database error class: peewee's, and the drivers' where peewee passes them through
#: (it leaves psycopg's serialization failures and deadlocks unwrapped).
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    pw.PeeweeException,
    sqlite3.Error,
    MaxConnectionsExceeded,
)
try:  # pragma: no branch - psycopg2 is a dependency, but only PostgreSQL needs it
    import psycopg2

    DATABASE_ERRORS += (psycopg2.Error,)
except ImportError:  # pragma: no cover
    pass


def schema_name(schema) -> str:
    """Component name of a schema: ``CarrierSchema`` is Carrier, a partial one CarrierUpdate."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    if not isinstance(schema, type) and schema.partial:
        name += "Update"
    return name


def describe_path_parameters(spec) -> None:
    """Give every path parameter a description (flask-smorest documents them bare)."""
    for operations in spec._paths.values():
        groups = [operations.get("parameters", [])]
        groups += [op.get("parameters", []) for op in operations.values() if isinstance(op, dict)]
        for parameters in groups:
            for parameter in parameters:
                if isinstance(parameter, dict) and parameter.get("in") == "path":
                    name = parameter["name"]
                    what = name.removesuffix("_id").replace("_", " ")
                    parameter.setdefault(
                        "description",
                        f"Id of the {what}." if name.endswith("_id") else f"The {what}.",
                    )


def describe_towns(spec, towns: tuple[str, ...]) -> None:
    """Enumerate the configured towns wherever a body field or query parameter is ``town``:
    the list comes from configuration (``REGISTRY_TOWNS_FILE``), so the marshmallow field
    cannot declare it, and without it the document would promise any string."""
    for schema in spec.components.schemas.values():
        town = schema.get("properties", {}).get("town")
        if town is not None:
            town["enum"] = [*towns, None] if town.get("nullable") else list(towns)
    for operations in spec._paths.values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if isinstance(parameter, dict) and parameter.get("name") == "town":
                    parameter.setdefault("schema", {})["enum"] = list(towns)


def field_overrides(self, field, ret, **kwargs) -> dict:
    """apispec attribute function, run after the built-in ones: a validator's own
    ``openapi`` keywords (``schemas.common.Documented``) are added, a ``Range`` that excludes
    its bound says so (apispec writes it inclusive), the bounds of a ``Dict``'s ``Length``
    are its number of keys (apispec writes string lengths), and a field's
    ``metadata["openapi"]`` replaces what apispec derived (e.g. the documented keys of a
    ``Dict``, where apispec writes ``additionalProperties`` from its value field)."""
    for validator in field.validators:
        ret.update(getattr(validator, "openapi", {}))
        if isinstance(validator, ma_validate.Range):
            if validator.min is not None and not validator.min_inclusive:
                ret["exclusiveMinimum"] = True
            if validator.max is not None and not validator.max_inclusive:
                ret["exclusiveMaximum"] = True
    if isinstance(field, ma_fields.Dict):
        for length, count in (("minLength", "minProperties"), ("maxLength", "maxProperties")):
            if length in ret:
                ret[count] = ret.pop(length)
    return dict(field.metadata.get("openapi", {}))


#: apispec writes a nullable nested object as ``anyOf: [its schema, {"type": "object",
#: "nullable": true}]``, whose second branch admits any object at all; it means null only.
_ANY_OBJECT_OR_NULL = {"type": "object", "nullable": True}
_NULL_ONLY = {"type": "object", "nullable": True, "enum": [None]}


def null_means_null(node) -> None:
    """Make every nullable nested object in the document admit its schema or null only."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "anyOf" and isinstance(value, list):
                node[key] = [_NULL_ONLY if item == _ANY_OBJECT_OR_NULL else item for item in value]
            null_means_null(node[key])
    elif isinstance(node, list):
        for item in node:
            null_means_null(item)


def require_a_change(spec, plugin: MarshmallowPlugin) -> None:
    """``minProperties: 1`` on the PATCH form of every resource: an empty edit is refused
    (422, ``ResourceSchema``'s own check), so the document says so."""
    from schemas.common import ResourceSchema

    for key, name in plugin.converter.refs.items():
        schema_class, partial = key[0], key[-1]
        if partial and issubclass(schema_class, ResourceSchema):
            spec.components.schemas[name]["minProperties"] = 1


def register_api(app: Flask) -> None:
    """Bind flask-smorest and every blueprint to ``app``."""
    from registry.api import (
        alerts,
        campaigns,
        carriers,
        changes,
        deadlines,
        docs,
        health,
        jobs,
        members,
        milestones,
        organizations,
        policies,
        registrations,
        reports,
        spreadsheets,
        targets,
        tokens,
        vocabulary,
        webhooks,
    )
    from registry.errors import DomainError
    from registry.lifecycle import LifecycleError

    app.url_map.converters["id"] = IdConverter
    app.config.update(
        API_TITLE="Carrier Registry",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": docs.API_DESCRIPTION},
            "components": {
                "securitySchemes": {
                    "bearer": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "Token from `registry create-token` or POST /tokens.",
                    }
                }
            },
            "security": [{"bearer": []}, {}],
        },
    )
    plugin = MarshmallowPlugin(schema_name_resolver=schema_name)
    api = Api(app, spec_kwargs={"marshmallow_plugin": plugin})
    plugin.converter.add_attribute_function(field_overrides)
    api.register_converter(IdConverter, lambda converter: {"type": "integer", "minimum": 1})
    for module in (
        organizations,
        spreadsheets,
        carriers,
        milestones,
        reports,
        members,
        policies,
        campaigns,
        targets,
        registrations,
        changes,
        tokens,
        webhooks,
        alerts,
        deadlines,
        jobs,
        vocabulary,
    ):
        api.register_blueprint(module.blp)
    describe_path_parameters(api.spec)
    require_a_change(api.spec, plugin)
    null_means_null(api.spec.components.schemas)
    with app.app_context():
        describe_towns(api.spec, places.towns())
    jsonbody.document_body_errors(api.spec)
    jsonbody.document_no_nul(api.spec)
    jsonbody.install(app)
    jsonbody.use_strict_body(Blueprint.ARGUMENTS_PARSER)
    app.after_request(vary_on_caller)
    app.register_blueprint(health.bp)
    app.register_blueprint(docs.bp)

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        return problem(error.status, error.message, error.errors)

    @app.errorhandler(LifecycleError)
    def _lifecycle_error(error: LifecycleError):
        return problem(409, str(error))

    for error_class in DATABASE_ERRORS:
        app.register_error_handler(error_class, _database_error)
    for endpoint, view in list(app.view_functions.items()):
        app.view_functions[endpoint] = _retrying(view)

    app.extensions["registry_api"] = api


def _database_error(error: BaseException):
    """503 problem+json with ``Retry-After`` for a database that is busy (SQLite lock held
    past the busy timeout, PostgreSQL serialization failure or deadlock after
    :data:`WRITE_ATTEMPTS` runs, lock or statement timeout), away, full or read-only; any
    other database error is a bug and stays a 500."""
    reason = db.unavailable(error)
    if reason is None:
        raise error
    log.warning("Database %s: %s %s: %s", reason, request.method, request.path, error)
    if reason == "unreachable":
        # The connection may be the broken one: never give it back to the pool.
        db.discard_connection()
    if reason == "busy":
        detail = "The database is busy right now; nothing was changed. Retry shortly."
    elif reason == "full":
        detail = "The database's disk is full; nothing was changed. Retry once space is freed."
    elif reason == "read-only":
        detail = "The database is read-only right now; nothing was changed. Retry later."
    else:
        detail = "The database is unavailable right now; nothing was changed. Retry later."
    return problem(503, detail, headers={"Retry-After": str(RETRY_AFTER[reason])})


def _retrying(view):
    """``view`` run again, up to :data:`WRITE_ATTEMPTS` times in all, after a PostgreSQL
    serialization failure or deadlock, while none of its write transactions has committed
    (``db.write_transaction`` counts them): the failed transaction was rolled back whole,
    so running the request again is safe. Anything else propagates at once."""

    @functools.wraps(view)
    def run(*args, **kwargs):
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return view(*args, **kwargs)
            except DATABASE_ERRORS as error:
                committed = getattr(g, "committed_writes", 0)
                if attempt == WRITE_ATTEMPTS or committed or not db.retryable(error):
                    raise
                log.info("Retrying %s %s after: %s", request.method, request.path, error)
                time.sleep(random.uniform(0.01, 0.05) * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    return run
