"""Schema-driven fuzzing of the whole API (schemathesis): no input gives a server error, and
every answer has a documented status, content type and shape.

The schema is read from an app built at import; every test's ``app`` fixture then rebinds the
database proxy to that test's fresh database, so each operation is fuzzed on its own data.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from registry import create_app

CHECKS = [
    not_a_server_error,
    content_type_conformance,
    status_code_conformance,
    response_schema_conformance,
]
FUZZ_APP = create_app({"DATABASE_URL": "sqlite:///:memory:", "SCHEDULER": False})
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", FUZZ_APP)


@pytest.fixture
def demo(app, admin):
    """The demo data on this test's database, and an admin token."""
    from fixtures import loader
    from registry.clock import today
    from registry.db import database

    with app.test_request_context(), database.connection_context():
        loader.load_demo(today())
    return admin


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_as_admin(case, demo):
    case.call_and_validate(headers={"Authorization": f"Bearer {demo}"}, checks=CHECKS)


@schema.parametrize()
@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_anonymous(case, demo):
    case.call_and_validate(checks=CHECKS)
