"""Point-in-time answers: ``?as_of=`` on one carrier, the list and the stats (issue: "which
studios were provincial on 2018-12-31")."""

import pytest

from registry.vocabulary import LEVELS

BASE = "/api/v1/carriers"


@pytest.fixture
def studios(carrier_factory, record):
    """Four studios with histories around the end of 2018."""
    made = {
        "promoted": carrier_factory(name="甲工作室", level="county", tags=["汽配"]),
        "late": carrier_factory(name="乙工作室", level="provincial"),
        "revoked": carrier_factory(name="丙工作室", level="provincial"),
        "demoted": carrier_factory(name="丁工作室", level="provincial"),
        "park": carrier_factory(name="园区", type="innovation_park", level="provincial"),
    }
    ids = {key: value["id"] for key, value in made.items()}
    record(ids["promoted"], "accredited", "2016-04-01")
    record(ids["promoted"], "level_changed", "2018-06-01", level="provincial")
    record(ids["late"], "accredited", "2019-03-01")
    record(ids["revoked"], "accredited", "2017-01-01")
    record(ids["revoked"], "revoked", "2018-10-01")
    record(ids["demoted"], "accredited", "2015-05-01")
    record(ids["demoted"], "level_changed", "2019-02-01", level="municipal")
    record(ids["park"], "accredited", "2016-01-01")
    return ids


def names(response):
    assert response.status_code == 200, response.get_json()
    return [item["name"] for item in response.get_json()]


def test_which_studios_were_provincial_on_a_date(api, admin, studios):
    query = f"{BASE}?type=skill_master_studio&level=provincial&status=accredited&sort=name"
    assert names(api.get(f"{query}&as_of=2018-12-31", token=admin)) == ["丁工作室", "甲工作室"]
    # Names in pinyin order: 甲 (jia) before 乙 (yi), 丙 (bing) before 丁 (ding).
    assert names(api.get(query, token=admin)) == ["甲工作室", "乙工作室"]
    level_only = api.get(f"{BASE}?level=provincial&as_of=2018-12-31&sort=name", token=admin)
    assert names(level_only) == ["丙工作室", "丁工作室", "甲工作室", "园区"]
    items = {item["name"]: item for item in level_only.get_json()}
    assert items["丙工作室"]["status"] == "revoked"
    assert items["甲工作室"]["as_of"] == "2018-12-31"
    assert items["甲工作室"]["accredited_on"] == "2016-04-01"


def test_as_of_filters_then_paginates(api, admin, studios):
    first = api.get(
        f"{BASE}?as_of=2018-12-31&level_min=provincial&sort=-name&page_size=2", token=admin
    )
    assert first.headers["X-Total-Count"] == "4"
    assert names(first) == ["园区", "甲工作室"]
    assert 'rel="next"' in first.headers["Link"] and "as_of=2018-12-31" in first.headers["Link"]
    second = api.get(
        f"{BASE}?as_of=2018-12-31&level_min=provincial&sort=-name&page_size=2&page=2", token=admin
    )
    assert names(second) == ["丁工作室", "丙工作室"]


def test_carriers_whose_history_had_not_begun_are_left_out(api, admin, studios):
    early = api.get(f"{BASE}?as_of=2015-12-31&sort=name", token=admin)
    assert names(early) == ["丁工作室"]
    assert api.get(f"{BASE}/{studios['late']}?as_of=2015-12-31", token=admin).status_code == 404
    registered = api.get(f"{BASE}?as_of=2018-12-31&status=applying", token=admin)
    assert names(registered) == []  # 乙 was registered today, after that day


def test_single_carrier_as_of(api, admin, studios):
    url = f"{BASE}/{studios['promoted']}"
    before = api.get(f"{url}?as_of=2018-05-31", token=admin)
    assert before.status_code == 200
    assert "ETag" not in before.headers
    body = before.get_json()
    assert (body["level"], body["status"], body["as_of"]) == ("county", "accredited", "2018-05-31")
    assert body["valid_until"] == "2019-04-01"  # county studio: 3-year term
    assert body["next_evaluation_on"] == "2017-04-01"  # county studios: yearly assessment
    assert body["next_report_due_on"] == "2017-03-31"  # no report submitted by then
    assert api.get(f"{url}?as_of=2018-06-01", token=admin).get_json()["level"] == "provincial"
    assert "as_of" not in api.get(url, token=admin).get_json()


@pytest.mark.parametrize("value", ["2999-01-01", "2018-02-30", "yesterday", ""])
def test_bad_as_of_is_422(api, admin, studios, value):
    assert api.get(f"{BASE}?as_of={value}", token=admin).status_code == 422
    assert api.get(f"{BASE}/{studios['late']}?as_of={value}", token=admin).status_code == 422


def test_anonymous_as_of_sees_public_carriers_and_fields(api, studios):
    response = api.get(f"{BASE}?as_of=2018-12-31&sort=name")
    # 丙 is revoked today: not in the public directory, whatever it was then.
    assert names(response) == ["丁工作室", "甲工作室", "园区"]
    for item in response.get_json():
        assert "next_evaluation_on" not in item and "contact" not in item
        assert item["as_of"] == "2018-12-31"


def test_as_of_sorts_by_the_state_of_that_day(api, admin, studios):
    ordered = names(api.get(f"{BASE}?as_of=2018-12-31&sort=-accredited_on,name", token=admin))
    assert ordered == ["丙工作室", "甲工作室", "园区", "丁工作室"]
    by_level = api.get(f"{BASE}?as_of=2018-12-31&sort=level,name", token=admin).get_json()
    levels = [item["level"] for item in by_level]
    assert levels == sorted(levels, key=LEVELS.index)


def test_as_of_with_descriptive_and_due_filters(api, admin, studios):
    assert names(api.get(f"{BASE}?as_of=2018-12-31&tag=汽配", token=admin)) == ["甲工作室"]
    due = api.get(
        f"{BASE}?as_of=2018-12-31&evaluation_due_before=2019-06-01&sort=name", token=admin
    )
    # 3-year cycles: 丁 was due on 2018-05-01, 园区 on 2019-01-01, 甲 on 2019-04-01;
    # 丙 was revoked (nothing due), 乙 not yet accredited.
    assert names(due) == ["丁工作室", "甲工作室", "园区"]
    accredited = api.get(
        f"{BASE}?as_of=2018-12-31&accredited_from=2016-01-01&accredited_to=2016-12-31&sort=name",
        token=admin,
    )
    assert names(accredited) == ["甲工作室", "园区"]


def test_stats_as_of(api, admin, studios):
    stats = api.get(
        "/api/v1/stats/carriers?group_by=level&type=skill_master_studio&as_of=2018-12-31",
        token=admin,
    ).get_json()
    assert stats == {
        "total": 3,
        "groups": [{"level": "provincial", "count": 3}],
    }
    now = api.get(
        "/api/v1/stats/carriers?group_by=level,status&type=skill_master_studio", token=admin
    ).get_json()
    assert now["total"] == 4


def test_as_of_list_runs_a_bounded_number_of_queries(
    api, admin, carrier_factory, record, count_queries
):
    def grow(count):
        for index in range(count):
            made = carrier_factory(tags=["甲"])
            record(made["id"], "accredited", f"201{index % 8}-03-01")
            if index % 3:
                record(made["id"], "annual_assessment", "2019-06-01", result="fail")

    def run():
        count_queries.statements.clear()
        response = api.get(f"{BASE}?as_of=2019-12-31&page_size=5&sort=-accredited_on", token=admin)
        assert response.status_code == 200
        return len(count_queries.statements)

    grow(6)
    small = run()
    grow(24)
    assert run() == small
