"""The migration runner (``registry.schema``): a database at any older schema version
upgrades to the latest with its data intact and is then ready; readiness means every step
applied; the steps build exactly the tables the models declare; they import no live code."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import peewee as pw
import pytest

from registry import create_app, db, migrations, schema
from registry.models import ALL_MODELS, Organization

PG_URL = os.environ.get("REGISTRY_TEST_DATABASE_URL")
VERSIONS = [step.version for step in schema.steps()]


@pytest.fixture
def empty_app(tmp_path, template_db):
    """An app on an empty database (PostgreSQL: the test database's public schema
    recreated; it is left at the latest version, as the other tests expect)."""
    url = PG_URL or f"sqlite:///{tmp_path / 'old.db'}"
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SCHEDULER": False})
    if PG_URL:
        with app.app_context(), db.database.connection_context():
            db.database.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    yield app
    if PG_URL:
        with app.app_context(), db.database.connection_context():
            schema.upgrade()


def _fill(version: int) -> None:
    """A few rows in every table that exists at ``version``, written with the frozen models
    of ``registry.migrations`` (as an older release would have): two organisations, a third
    one created and deleted (only its audit record is left), a carrier with a milestone, a
    principal with a token; targets, job runs and webhooks once their step is applied."""
    m = migrations
    now = dt.datetime(2025, 1, 2, 3, 4, 5)
    host = m.Organization.create(name="宿主", kind="enterprise")
    m.Organization.create(name="伙伴", kind="university")
    gone = m.Organization.create(name="已删", kind="enterprise")
    m.Change.create(actor="cli", action="create", object_type="organization", object_id=gone.id)
    gone.delete_instance()
    carrier = m.Carrier.create(
        name="载体",
        type="skill_master_studio",
        level="county",
        host_organization=host,
        initial_level="county",
        attributes="{}",
    )
    m.Milestone.create(carrier=carrier, kind="accredited", occurred_on=dt.date(2024, 5, 6))
    principal = m.Principal.create(name="运营", role="operator", organization_ids=f"[{host.id}]")
    m.Token.create(principal=principal, name="t", token_hash="ab" * 32, prefix="crt_abcd")
    if version >= 3:
        m.Target.create(name="目标", metric="carrier_count", target_value=3, deadline=now.date())
    if version >= 4:
        m.JobRun.create(job="scan", trigger="cli", actor="cli", finished_at=now)
    if version >= 5:
        m.Webhook.create(url="https://hooks.example.com/x", secret="whsec_x", created_by="cli")


def _dump() -> dict[str, list[dict]]:
    """Every row of every table but ``schema_version``, as plain dicts in id order."""
    dump = {}
    for table in sorted(db.database.get_tables()):
        if table == "schema_version":
            continue
        cursor = db.database.execute_sql(f'SELECT * FROM "{table}" ORDER BY 1')
        names = [column[0] for column in cursor.description]
        dump[table] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return dump


@pytest.mark.parametrize("version", [0, *VERSIONS[:-1]])
def test_a_database_at_an_older_version_upgrades_with_its_data(empty_app, version):
    app = empty_app
    with app.app_context(), db.database.connection_context():
        assert schema.upgrade(up_to=version) == [v for v in VERSIONS if v <= version]
        assert not schema.is_current() and schema.current_version() == version
        if version:
            _fill(version)
        before = _dump()
    assert app.test_client().get("/readyz").status_code == 503
    with app.app_context(), db.database.connection_context():
        assert schema.upgrade() == [v for v in VERSIONS if v > version]
        after = _dump()
        for table, rows in before.items():
            assert len(after[table]) == len(rows), table
            kept = [
                {name: row[name] for name in old}
                for row, old in zip(after[table], rows, strict=True)
            ]
            assert kept == rows, table
        # A new organisation takes an id no organisation ever had, the deleted one's too.
        new = Organization.create(name="新", kind="enterprise")
        if version:
            assert new.id == 4
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["schema_version"] == VERSIONS[-1]


def test_the_steps_build_the_tables_the_models_declare(empty_app):
    with empty_app.app_context(), db.database.connection_context():
        schema.upgrade()
        tables = set(db.database.get_tables())
        for model in ALL_MODELS:
            table = model._meta.table_name
            assert table in tables
            columns = {column.name: column for column in db.database.get_columns(table)}
            fields = {field.column_name: field for field in model._meta.sorted_fields}
            assert set(columns) == set(fields), table
            for name, field in fields.items():
                assert columns[name].null == field.null, f"{table}.{name}"
            indexes = {
                tuple(index.columns): index.unique for index in db.database.get_indexes(table)
            }
            for field in fields.values():
                if field.unique or field.index:
                    assert indexes.get((field.column_name,)) == bool(field.unique), field
            foreign_keys = {
                (key.column, key.dest_table) for key in db.database.get_foreign_keys(table)
            }
            assert foreign_keys == {
                (field.column_name, field.rel_model._meta.table_name)
                for field in fields.values()
                if isinstance(field, pw.ForeignKeyField)
            }, table
            for columns_, unique in model._meta.indexes:
                names = tuple(model._meta.fields[name].column_name for name in columns_)
                assert indexes.get(names) == unique, (table, names)


def test_readiness_means_every_step_applied_not_the_highest(app, api):
    from registry.schema import SchemaVersion

    middle = VERSIONS[1]
    with app.app_context(), db.database.connection_context():
        SchemaVersion.delete().where(SchemaVersion.version == middle).execute()
        assert schema.current_version() == VERSIONS[-1]
    response = api.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["schema_pending"] == [middle]
    with app.app_context(), db.database.connection_context():
        assert schema.upgrade() == [middle]  # a step is safe to run on a current schema
    assert api.get("/readyz").status_code == 200


def test_steps_run_in_version_order_and_versions_are_unique():
    assert VERSIONS == sorted(set(VERSIONS))
    assert len(VERSIONS) == len(migrations.MIGRATIONS)


def test_migrations_import_no_live_domain_code():
    code = (
        "import sys, registry.migrations, registry.schema; "
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('registry', 'jobs', 'schemas', 'fixtures'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(result.stdout.split())
    assert loaded <= {
        "registry",
        "registry.clock",
        "registry.config",
        "registry.db",
        "registry.migrations",
        "registry.schema",
    }, loaded


@pytest.mark.skipif(not PG_URL, reason="a PostgreSQL storage setting")
def test_carrier_pages_leave_room_for_in_place_updates_on_postgresql(app):
    with app.app_context(), db.database.connection_context():
        options = db.database.execute_sql(
            "SELECT reloptions FROM pg_class WHERE relname = 'carrier'"
        ).fetchone()[0]
    assert "fillfactor=80" in options
