"""The fast dump of schemas (schemas/dumping.py) gives what marshmallow gives, for every kind
of field, value and schema option; and statements built once (registry.db.select_once) bind
each call's own values."""

from __future__ import annotations

import datetime as dt
import decimal
import os

import marshmallow as ma
import peewee as pw
import pytest
from marshmallow import fields

from registry import db
from schemas.common import Timestamp
from schemas.dumping import FastDumpSchema, dumper_for

PG_URL = os.environ.get("REGISTRY_TEST_DATABASE_URL")


class Inner(ma.Schema):
    a = fields.Integer()
    b = fields.String(allow_none=True)


class Hooked(ma.Schema):
    x = fields.Integer()

    @ma.post_dump
    def _double(self, data, **kwargs):
        return {**data, "x": data["x"] * 2}


class Everything(FastDumpSchema):
    s = fields.String(allow_none=True)
    i = fields.Integer(allow_none=True)
    i_text = fields.Integer(as_string=True)
    f = fields.Float()
    n = fields.Decimal(as_string=True)
    flag = fields.Boolean(allow_none=True)
    day = fields.Date(allow_none=True)
    day_format = fields.Date(format="%Y/%m/%d")
    when = Timestamp(allow_none=True)
    plain_when = fields.DateTime()
    mapping = fields.Dict(keys=fields.String(), values=fields.Integer())
    raw = fields.Raw()
    email = fields.Email()
    tags = fields.List(fields.String())
    days = fields.List(fields.Date())
    one = fields.Nested(Inner, allow_none=True)
    many = fields.Nested(Inner, many=True)
    listed = fields.List(fields.Nested(Inner))
    only_b = fields.Nested(Inner, only=("b",))
    hooked = fields.Nested(Hooked)
    renamed = fields.String(data_key="outName")
    sourced = fields.String(attribute="elsewhere")
    defaulted = fields.String(dump_default="默认")
    called_default = fields.Integer(dump_default=lambda: 7)
    secret = fields.String(load_only=True)


VALUES = [
    {
        "s": "文字",
        "i": 3,
        "i_text": 4,
        "f": 1.5,
        "n": decimal.Decimal("2.50"),
        "flag": True,
        "day": dt.date(2025, 1, 2),
        "day_format": dt.date(2025, 1, 2),
        "when": dt.datetime(2025, 1, 2, 3, 4, 5),
        "plain_when": dt.datetime(2025, 1, 2, 3, 4, 5),
        "mapping": {"k": 1},
        "raw": {"nested": [1, "x"]},
        "email": "a@example.com",
        "tags": ["甲", "乙"],
        "days": [dt.date(2024, 2, 29)],
        "one": {"a": 1, "b": None},
        "many": [{"a": 1}, {"b": "x"}],
        "listed": [{"a": 2, "b": "y"}],
        "only_b": {"a": 1, "b": "z"},
        "hooked": {"x": 2},
        "renamed": "r",
        "elsewhere": "from elsewhere",
        "secret": "never dumped",
    },
    # None everywhere it may be, other types where marshmallow converts, keys missing.
    {
        "s": 12,
        "i": "5",
        "flag": 0,
        "day": dt.datetime(2025, 1, 2, 3, 4),
        "when": None,
        "one": None,
        "tags": [1, "b"],
        "many": [],
        "defaulted": None,
        "sourced": "ignored: read from elsewhere",
    },
    {},
]


@pytest.mark.parametrize("value", VALUES)
def test_the_fast_dump_equals_marshmallow_s(value):
    schema = Everything()
    assert dumper_for(schema) is not None
    assert schema.dump(value) == ma.Schema._serialize(schema, value, many=False)
    assert schema.dump([value, value], many=True) == ma.Schema._serialize(
        schema, [value, value], many=True
    )


def test_objects_that_are_not_dicts_and_hooked_schemas_go_to_marshmallow():
    class Row:
        s = "attribute"
        i = 1

    schema = Everything(only=("s", "i"))
    assert schema.dump(Row()) == {"s": "attribute", "i": 1}
    assert dumper_for(Hooked()) is None
    assert Everything(only=("hooked",)).dump({"hooked": {"x": 3}}) == {"hooked": {"x": 6}}


def test_a_statement_is_built_once_and_binds_each_call_s_values(app, org_factory):
    from registry.models import Organization

    first, second = org_factory(name="甲单位"), org_factory(name="乙单位")

    def by_ids(ids, kind):
        return Organization.select(Organization.id, Organization.name).where(
            db.among(Organization.id, ids) & (Organization.kind == kind)
        )

    with app.app_context(), db.database.connection_context():
        read = db.select_once("test orgs", by_ids, [first["id"]], "enterprise")
        assert read == [(first["id"], "甲单位")]
        key = ("test orgs", db.is_postgres())
        statement = db._STATEMENTS[key]
        both = db.select_once("test orgs", by_ids, [first["id"], second["id"]], "enterprise")
        assert sorted(both) == [(first["id"], "甲单位"), (second["id"], "乙单位")]
        assert db._STATEMENTS[key] is statement
        assert db.select_once("test orgs", by_ids, [second["id"]], "university") == []
        assert db.select_once("test orgs", by_ids, [], "enterprise") == []
        named = db.select_once("test orgs", by_ids, [second["id"]], "enterprise", named=True)
        assert named[0].name == "乙单位"
        rows = db.select_once("test orgs", by_ids, [second["id"]], "enterprise", model=Organization)
        assert (rows[0].id, rows[0].name, rows[0].is_dirty()) == (second["id"], "乙单位", False)


def test_the_statements_kept_are_bounded_and_a_dropped_one_is_built_again(
    app, org_factory, monkeypatch
):
    """The list's statements are named by the shape of a question (a client chooses its
    sort): past ``db.STATEMENT_LIMIT`` the one built longest ago is dropped."""
    from registry.models import Organization

    org = org_factory(name="有界")

    def by_id(org_id):
        return Organization.select(Organization.name).where(Organization.id == org_id)

    monkeypatch.setattr(db, "STATEMENT_LIMIT", 3)
    with app.app_context(), db.database.connection_context():
        for n in range(10):
            assert db.select_once(f"test bounded {n}", by_id, org["id"]) == [("有界",)]
            assert len(db._STATEMENTS) <= db.STATEMENT_LIMIT
        names = {name for name, _ in db._STATEMENTS}
        assert "test bounded 9" in names and "test bounded 0" not in names
        assert db.select_once("test bounded 0", by_id, org["id"]) == [("有界",)]


@pytest.mark.skipif(not PG_URL, reason="prepared statements are PostgreSQL's")
def test_on_postgresql_a_statement_built_once_runs_prepared_on_each_connection(
    app, org_factory, count_queries, monkeypatch
):
    """``db._run``: PREPARE once per connection outside a transaction, then EXECUTE; inside
    a transaction, or when PostgreSQL refuses to prepare it, plain SQL; the peewee log
    shows the statement's SQL either way; ``DB_PREPARE`` off: never prepared."""
    from registry.models import Organization

    first, second = org_factory(name="预备甲"), org_factory(name="预备乙")

    def by_id(org_id):
        return Organization.select(Organization.name).where(Organization.id == org_id)

    def untyped(value):  # PostgreSQL cannot tell the parameter's type: not preparable
        return Organization.select(pw.Value(value).is_null().alias("v")).limit(1)

    def prepared_names() -> set[str]:
        cursor = db.database.execute_sql("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}

    with app.app_context(), db.database.connection_context():
        with db.database.atomic():
            assert db.select_once("test prepared", by_id, first["id"]) == [("预备甲",)]
        statement = db._STATEMENTS[("test prepared", True)]
        assert statement.name not in prepared_names()  # met inside a transaction first
        count_queries.statements.clear()
        assert db.select_once("test prepared", by_id, first["id"]) == [("预备甲",)]
        assert db.select_once("test prepared", by_id, second["id"]) == [("预备乙",)]
        assert count_queries.statements == [statement.sql, statement.sql]
        assert statement.name in prepared_names()
        # An id beyond PostgreSQL's integer: no row, as in plain SQL (not an error).
        assert db.select_once("test prepared", by_id, 2**31) == []
        assert db.select_once("test prepared", by_id, 2**53 - 1) == []
        with db.database.atomic():  # a prepared statement inside a transaction, rolled back
            assert db.select_once("test prepared", by_id, second["id"]) == [("预备乙",)]
            db.database.rollback()
        assert db.select_once("test prepared", by_id, first["id"]) == [("预备甲",)]
        assert db.select_once("test untyped", untyped, "值") == [(False,)]
        refused = db._STATEMENTS[("test untyped", True)]
        assert refused.unpreparable and refused.name not in prepared_names()
        assert db.select_once("test untyped", untyped, None) == [(True,)]
    monkeypatch.setattr(db, "_prepare", False)  # REGISTRY_DB_PREPARE=0
    db.close_all()
    with app.app_context(), db.database.connection_context():
        assert db.select_once("test prepared", by_id, second["id"]) == [("预备乙",)]
        assert prepared_names() == set()
        # Nothing prepared, nothing asked of the session (PgBouncer in transaction mode).
        assert db.database.execute_sql("SHOW plan_cache_mode").fetchone() == ("auto",)


@pytest.mark.skipif(not PG_URL, reason="prepared statements are PostgreSQL's")
def test_on_postgresql_a_prepared_statement_has_one_plan_and_the_list_s_are_planned_per_call(
    app, api, admin, carrier_factory
):
    """Each connection asks for generic plans (``plan_cache_mode``): a prepared read of ids
    is planned once, not on every EXECUTE. The list's statements, whose best plan depends on
    the filters' values, run as plain SQL (``plan_each_time``), never prepared."""
    from registry.models import Organization

    carrier = carrier_factory(town=None)
    listed = api.get("/api/v1/carriers?type=skill_master_studio&page_size=5", token=admin)
    assert [item["id"] for item in listed.get_json()] == [carrier["id"]]

    def by_ids(ids):
        return Organization.select(Organization.name).where(db.among(Organization.id, ids))

    with app.app_context(), db.database.connection_context():
        (mode,) = db.database.execute_sql("SHOW plan_cache_mode").fetchone()
        assert mode == "force_generic_plan"
        assert db.select_once("test generic", by_ids, [carrier["host_organization_id"]])
        statement = db._STATEMENTS[("test generic", True)]
        plan = db.database.execute_sql(f"EXPLAIN EXECUTE {statement.name} (ARRAY[1, 2])")
        assert "$1" in " ".join(line for (line,) in plan.fetchall())  # generic: not replanned
        host = [carrier["host_organization_id"]]
        each = db.select_once("test each time", by_ids, host, plan_each_time=True)
        assert each == [(carrier["host_organization"]["name"],)]
        each_time = db._STATEMENTS[("test each time", True)]
        cursor = db.database.execute_sql("SELECT name FROM pg_prepared_statements")
        prepared = {name for (name,) in cursor.fetchall()}
        assert statement.name in prepared and each_time.name not in prepared
        listing = [
            found for (name, _), found in db._STATEMENTS.items() if name.startswith("page ids")
        ]
        assert listing and all(found.plan_each_time for found in listing)


def test_a_statement_that_does_not_bind_a_value_as_one_parameter_is_refused(app):
    from registry.models import Organization

    def spread(ids):
        return Organization.select(Organization.id).where(Organization.id.in_(ids))

    with app.app_context(), db.database.connection_context():
        with pytest.raises(ValueError, match="one parameter"):
            db.select_once("test spread", spread, [1, 2])


@pytest.mark.parametrize(
    "field", [pw.DateTimeField(), pw.DateField(), pw.DateTimeField(null=True)], ids=repr
)
def test_dates_are_converted_as_peewee_converts_them(field):
    """``db.converter`` reads SQLite's date texts with ``fromisoformat``: the same values as
    peewee's ``python_value`` for every form, those it does not parse itself included."""
    convert = db.converter(field)
    texts = [
        "2026-12-07",
        "2026-12-07 17:42:34",
        "2026-12-07 17:42:34.123456",
        "2026-12-07 17:42:34.12",
        "2026-12-07T17:42:34",
        "2026-12-07 17:42:34.123+08",
        "2026-12-07 17:42:34+08:00",
        "2026-02-29",
        "not a date",
        "",
        dt.datetime(2026, 12, 7, 17, 42),
        dt.date(2026, 12, 7),
        None,
    ]
    for text in texts:
        try:
            expected = field.python_value(text)
        except ValueError as error:
            with pytest.raises(type(error)):
                convert(text)
            continue
        assert convert(text) == expected and type(convert(text)) is type(expected), text


def test_reads_together_give_what_each_read_gives_alone(
    app, api, admin, carrier_factory, org_factory, accredit, count_queries
):
    """``db.select_together``: the rows of each read as ``select_once`` gives them (their
    order, dates, named rows, a read of no ids), in one statement on PostgreSQL."""
    from registry import carriers, rosters
    from registry.models import Alert, Carrier

    later, earlier = org_factory(name="后伙伴"), org_factory(name="先伙伴")
    partners = [{"organization_id": later["id"]}, {"organization_id": earlier["id"]}]
    full = carrier_factory(
        type="postdoc_workstation", level="provincial", partners=partners, tags=["乙", "甲"]
    )
    bare = carrier_factory()
    accredit(full["id"], "2020-03-01")
    for name, started in (("张三", "2024-09-01"), ("李四", "2023-03-15")):
        body = {
            "role": "postdoc",
            "name": name,
            "institution": "宁波大学",
            "topic": "高分子材料",
            "started_on": started,
        }
        response = api.post(f"/api/v1/carriers/{full['id']}/members", json=body, token=admin)
        assert response.status_code == 201, response.get_json().get("errors")
    ids = [full["id"], bare["id"]]
    with app.app_context(), db.database.connection_context():
        Alert.create(
            carrier=full["id"],
            kind="evaluation_due",
            due_on=dt.date(2030, 1, 1),
            days_left=10,
            opened_on=dt.date(2029, 12, 1),
        )
        reads = [
            db.Read("partners", carriers._partners, (ids,)),
            db.Read("carrier tags", carriers._tags, (ids,)),
            db.Read("open alert counts", carriers._open_alert_counts, ([],)),
            db.Read("open alert counts", carriers._open_alert_counts, ([full["id"]],)),
            rosters.facts_read(ids),
        ]
        count_queries.statements.clear()
        together = db.select_together(*reads)
        assert len(count_queries.statements) == (1 if db.is_postgres() else 4)
        alone = [db.select_once(r.name, r.build, *r.values, named=r.named) for r in reads]
        assert together == alone
        partner_rows, tag_rows, no_alerts, alerts, facts = together
        assert [row[3] for row in partner_rows] == ["后伙伴", "先伙伴"]
        assert [row[1] for row in tag_rows] == ["乙", "甲"]
        assert (no_alerts, alerts) == ([], [(full["id"], 1)])
        assert sorted(row.started_on for row in facts) == [
            dt.date(2023, 3, 15),
            dt.date(2024, 9, 1),
        ]
        assert all(row.carrier_id == full["id"] and row.ended_on is None for row in facts)
        if db.is_postgres():

            def stamps(carrier_ids):
                return Carrier.select(Carrier.created_at).where(db.among(Carrier.id, carrier_ids))

            with pytest.raises(ValueError, match="timestamp"):
                db.select_together(db.Read("test stamps", stamps, (ids,)))
