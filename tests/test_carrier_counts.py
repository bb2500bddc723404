"""Carrier counts kept by triggers (issue 10, migration 16): ``/stats/carriers`` and the
list's ``X-Total-Count`` read ``carrier_count`` when the question is about type, level,
status and town alone, and answer exactly what counting the carriers answers.

Every test's database is also held to it at teardown
(``counts_support.assert_carrier_counts_exact``), so that each write path the suite takes
keeps the counts.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from counts_support import assert_carrier_counts_exact

from registry import db, directory
from registry.models import Carrier, CarrierCount, CarrierPeriod

TOWNS = ("周巷镇", "古塘街道", None)
TYPES = ("skill_master_studio", "postdoc_workstation")
LEVELS = ("county", "municipal", "provincial")


@pytest.fixture
def spread(carrier_factory, accredit, org_factory):
    """Twelve carriers over two types, three levels, two towns and none, three statuses."""
    made = []
    for index, (type_, level, town) in enumerate(itertools.product(TYPES, LEVELS, TOWNS)):
        if index >= 12:
            break
        fields = {"type": type_, "level": level}
        if town:
            fields["town"] = town
        carrier = carrier_factory(**fields)
        if index % 3 != 2:
            accredit(carrier["id"], "2020-03-01")
        made.append(carrier)
    return made


def _all_listed(api, token, query: str) -> list[dict]:
    items, page = [], 1
    while True:
        response = api.get(f"/api/v1/carriers?{query}&page={page}&page_size=100", token=token)
        assert response.status_code == 200, response.get_json()
        items += response.get_json()
        if len(items) >= int(response.headers["X-Total-Count"]):
            return items
        page += 1


QUERIES = [
    "",
    "type=skill_master_studio",
    "level_min=municipal",
    "level=county&town=周巷镇",
    "status=accredited",
    "status=applying&type=postdoc_workstation",
    "town=古塘街道&level_min=provincial",
]


@pytest.mark.parametrize("caller", ["admin", "anonymous", "operator"])
def test_stats_and_totals_equal_counting_the_listed_carriers(
    api, admin, make_token, spread, caller
):
    token = {
        "admin": admin,
        "anonymous": None,
        # An operator of an accredited carrier's host and of one still applying: its own
        # carriers beside the public ones (those applying counted from the carrier table).
        "operator": make_token(
            "operator", [spread[0]["host_organization_id"], spread[2]["host_organization_id"]]
        ),
    }[caller]
    for query in QUERIES:
        listed = _all_listed(api, token, query)
        first = api.get(f"/api/v1/carriers?{query}&page_size=1", token=token)
        assert int(first.headers["X-Total-Count"]) == len(listed), query
        for group_by in ("type,level", "status", "town", "level,status,town,type"):
            keys = group_by.split(",")
            answer = api.get(f"/api/v1/stats/carriers?{query}&group_by={group_by}", token=token)
            assert answer.status_code == 200, answer.get_json()
            body = answer.get_json()
            counted = Counter(tuple(item[key] for key in keys) for item in listed)
            assert {
                tuple(group[key] for key in keys): group["count"] for group in body["groups"]
            } == dict(counted), (query, group_by)
            assert body["total"] == len(listed)
    if caller == "anonymous":
        assert {item["status"] for item in listed} <= {"accredited"}


def test_the_counts_answer_every_caller_as_counting_the_carriers(app, spread, in_db):
    from flask import g

    from registry.models import Principal

    own = [spread[0]["host_organization_id"], spread[2]["host_organization_id"]]
    callers = {
        "bureau": Principal(role="bureau_viewer", name="b", organization_ids=[]),
        "public": None,
        "operator": Principal(id=1, role="operator", name="o", organization_ids=own),
        "partner": Principal(id=2, role="partner", name="p", organization_ids=own),
    }
    with app.test_request_context(), db.database.connection_context():
        for name, who in callers.items():
            g.principal = who
            for args in (
                {},
                {"town": "周巷镇"},
                {"status": "applying"},
                {"tag": "非遗"},
                {"q": "示例"},
            ):
                for keys in ([], ["type"], ["status", "town"]):
                    groups = directory._counted(args, keys)
                    assert (groups is None) == bool({"tag", "q"} & set(args)), (name, args)
                    if groups is None:
                        continue
                    columns = [getattr(Carrier, key) for key in keys]
                    full = directory._grouped(directory.visible(args), columns, keys)
                    expected = [group for group in full if group["count"] or not keys]
                    assert sorted(groups, key=str) == sorted(expected, key=str), (name, args)


def test_every_kind_of_write_keeps_the_counts(app, spread, in_db):
    """Writes straight to the table, as a migration or an operator's SQL would make them:
    the triggers count them too."""
    with in_db():
        assert_carrier_counts_exact()
        ids = [carrier["id"] for carrier in spread]
        # One statement moving carriers between groups (town, then level and status).
        Carrier.update(town="古塘街道").where(Carrier.id.in_(ids[:5])).execute()
        assert_carrier_counts_exact()
        Carrier.update(level="national", status="revoked").where(Carrier.id.in_(ids[3:8])).execute()
        assert_carrier_counts_exact()
        # An update that moves no carrier (the scan's version bumps) leaves the counts alone.
        before = list(CarrierCount.select().order_by(CarrierCount.type).dicts())
        Carrier.update(version=Carrier.version + 1).execute()
        assert list(CarrierCount.select().order_by(CarrierCount.type).dicts()) == before
        # A carrier without a town counts under '', and shows as null.
        Carrier.update(town=None).where(Carrier.id == ids[0]).execute()
        assert_carrier_counts_exact()
        CarrierPeriod.delete().where(CarrierPeriod.carrier == ids[-1]).execute()
        Carrier.delete().where(Carrier.id == ids[-1]).execute()
        assert_carrier_counts_exact()
        # A write that fails leaves the counts of its statement undone with it.
        with pytest.raises(RuntimeError), db.database.atomic():
            Carrier.update(type="maker_space").where(Carrier.id.in_(ids[:3])).execute()
            raise RuntimeError("rolled back")
        assert_carrier_counts_exact()
        assert (
            not CarrierCount.select()
            .where(CarrierCount.type == "maker_space", CarrierCount.carriers != 0)
            .exists()
        )


def test_a_town_left_empty_is_counted_as_null(api, admin, carrier_factory):
    carrier_factory(type="maker_space")
    body = api.get("/api/v1/stats/carriers?group_by=town&type=maker_space", token=admin).get_json()
    assert body == {"total": 1, "groups": [{"town": None, "count": 1}]}


def test_a_page_built_once_per_shape_lists_what_building_it_anew_lists(app, spread, in_db):
    """``directory.page`` builds the SQL of the bureau's and the public's pages and totals
    once per shape (``directory._shape``) and binds each question's values: the same ids,
    in the same order, as the query built for each question, across values, sorts, pages."""
    from flask import g

    from registry.models import Principal

    questions = [
        {},
        {"town": "周巷镇"},
        {"town": "古塘街道"},
        {"type": TYPES[0], "level_min": "municipal", "town": "周巷镇"},
        {"type": TYPES[1], "level_min": "municipal", "town": "古塘街道"},
        {"type": TYPES[1], "level_min": "county", "town": "古塘街道"},
        {"type": TYPES[1], "level_min": "provincial"},
        {"status": "applying", "level": "county"},
        {"status": "accredited", "level": "provincial"},
    ]
    bureau = Principal(role="bureau_admin", name="b", organization_ids=[])
    with app.test_request_context(), db.database.connection_context():
        for who in (bureau, None):
            g.principal = who
            for question, sort, (number, size) in itertools.product(
                questions, (None, "-accredited_on", "town,-name"), ((1, 5), (2, 5), (1, 100))
            ):
                args = {**question, **({"sort": sort} if sort else {})}
                rows, total = directory.page(args, number, size)
                anew = directory.sort(directory.visible(args), sort).select(Carrier.id)
                expected = [carrier_id for (carrier_id,) in anew.paginate(number, size).tuples()]
                assert [row.id for row in rows] == expected, (who, args, number)
                assert total == anew.count(), (who, args)
    built = [name for name, _ in db._STATEMENTS if name.startswith(("page ids", "counts"))]
    assert any("bureau type,town level_min='municipal'" in name for name in built), built
    assert any("public town level_min=None" in name for name in built), built
