"""The HTTP API: one blueprint per resource, problem+json errors, the OpenAPI document."""

from __future__ import annotations

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from registry.api.common import Api, IdConverter, problem, refuse_nul_characters


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
        milestones,
        organizations,
        policies,
        registrations,
        reports,
        targets,
        tokens,
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
    api = Api(
        app, spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name)}
    )
    api.register_converter(IdConverter, lambda converter: {"type": "integer", "minimum": 1})
    for module in (
        organizations,
        carriers,
        milestones,
        reports,
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
    ):
        api.register_blueprint(module.blp)
    describe_path_parameters(api.spec)
    app.before_request(refuse_nul_characters)
    app.register_blueprint(health.bp)
    app.register_blueprint(docs.bp)

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        return problem(error.status, error.message, error.errors)

    @app.errorhandler(LifecycleError)
    def _lifecycle_error(error: LifecycleError):
        return problem(409, str(error))

    app.extensions["registry_api"] = api
