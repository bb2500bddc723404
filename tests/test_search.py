"""Search as people search (issue 13): any part of a name, the host's name, pinyin, pinyin
initials, either width of brackets and letters, any case; names in pinyin order. The keys are
stored (registry.names), written with every name, and backfilled by migration step 11."""

from __future__ import annotations

import datetime as dt

import pytest

from registry import db, directory, migrations, names, schema, uscc
from registry.models import Carrier, Organization

BASE = "/api/v1/carriers"


@pytest.fixture
def town(org_factory, carrier_factory, accredit):
    """Two hosts, three accredited carriers and one still applying (not public)."""
    bull = org_factory(name="公牛集团有限公司")
    college = org_factory(name="宁波大学科学技术学院", kind="university")
    made = {
        "studio": carrier_factory(name="张三技能大师工作室", host_organization_id=bull["id"]),
        "station": carrier_factory(
            name="博士后工作站（慈溪）",
            type="postdoc_workstation",
            host_organization_id=college["id"],
        ),
        "maker": carrier_factory(
            name="Maker空间", type="maker_space", host_organization_id=bull["id"]
        ),
        "hidden": carrier_factory(name="技能大师隐藏工作室", host_organization_id=college["id"]),
    }
    for key in ("studio", "station", "maker"):
        accredit(made[key]["id"], "2024-05-01")
    return {"bull": bull, "college": college, **made}


def found(api, query, token=None, sort="name", path=BASE):
    wanted = {"q": query, "sort": sort} if query else {"sort": sort}
    response = api.get(path, query_string=wanted, token=token)
    assert response.status_code == 200, response.get_json()
    return [item["name"] for item in response.get_json()]


@pytest.mark.parametrize(
    "query",
    ["技能大师", "jndsgzs", "zsjnds", "jinengdashi", "Ji Neng Da Shi", "JNDS", "ｊｎｄｓ"],
)
def test_a_studio_is_found_by_any_part_pinyin_or_initials(api, town, query):
    assert found(api, query) == ["张三技能大师工作室"]


@pytest.mark.parametrize("query", ["工作站(慈溪)", "工作站（慈溪）", "(慈溪)", "cixi"])
def test_full_and_half_width_brackets_match_alike(api, town, query):
    assert found(api, query) == ["博士后工作站（慈溪）"]


@pytest.mark.parametrize("query", ["maker", "MAKER", "ｍａｋｅｒ", "maker空间", "kongjian"])
def test_latin_letters_match_in_any_case_and_width(api, town, query):
    assert found(api, query) == ["Maker空间"]


@pytest.mark.parametrize("query", ["公牛", "公牛集团", "gongniu", "gnjt"])
def test_the_host_organisations_name_finds_its_carriers(api, town, query):
    assert found(api, query) == ["Maker空间", "张三技能大师工作室"]


def test_search_finds_only_what_the_caller_may_see(api, admin, town):
    """The key holds public text only (name, host's name); scope stays the directory's."""
    assert found(api, "jndsgzs") == ["张三技能大师工作室"]
    assert found(api, "技能大师", token=admin) == ["技能大师隐藏工作室", "张三技能大师工作室"]
    assert found(api, "jndsycgzs", token=admin) == ["技能大师隐藏工作室"]
    assert found(api, "jndsycgzs") == []
    assert found(api, "宁波大学") == ["博士后工作站（慈溪）"]


def test_like_wildcards_are_literal(api, town):
    assert found(api, "%") == [] and found(api, "_") == []


def test_names_sort_in_pinyin_order(api, admin, town):
    # bo(shi hou) < ji(neng) < ma(ker) < zhang(san): not the code-point order of the names.
    everything = ["博士后工作站（慈溪）", "技能大师隐藏工作室", "Maker空间", "张三技能大师工作室"]
    assert found(api, None, token=admin) == everything
    assert found(api, None, token=admin, sort="-name") == everything[::-1]
    listed = api.get(BASE, token=admin).get_json()  # by name by default
    assert [item["name"] for item in listed] == everything


def test_pinyin_order_goes_syllable_by_syllable(api, admin, carrier_factory):
    for name in ("金属工作室", "机器工作室", "阿工作室", "爱工作室"):
        carrier_factory(name=name)
    # a < ai; ji (机) < jin (金) although "jiqi" > "jinshu" letter by letter.
    assert found(api, "工作室", token=admin) == ["阿工作室", "爱工作室", "机器工作室", "金属工作室"]


def test_a_past_day_sorts_names_the_same_way(api, admin, town):
    listed = api.get(BASE, query_string={"as_of": "2025-01-01", "sort": "name"}, token=admin)
    assert [item["name"] for item in listed.get_json()] == [
        "博士后工作站（慈溪）",
        "Maker空间",
        "张三技能大师工作室",
    ]


def edit(api, token, path, body):
    """PATCH ``path`` with the ETag just read."""
    etag = api.get(path, token=token).headers["ETag"]
    response = api.patch(path, json=body, token=token, headers={"If-Match": etag})
    assert response.status_code == 200, response.get_json()


def test_renames_rewrite_the_keys(api, admin, town, app):
    edit(api, admin, f"/api/v1/organizations/{town['bull']['id']}", {"name": "慈溪汽配厂"})
    assert found(api, "gongniu") == []
    assert found(api, "cxqpc") == ["Maker空间", "张三技能大师工作室"]
    edit(api, admin, f"{BASE}/{town['studio']['id']}", {"name": "李四技能大师工作室"})
    assert found(api, "lsjndsgzs") == ["李四技能大师工作室"]
    assert found(api, "zsjnds") == []
    # A move to another host: the new host's name finds it, the old one's no longer.
    edit(
        api, admin, f"{BASE}/{town['maker']['id']}", {"host_organization_id": town["college"]["id"]}
    )
    assert found(api, "cxqpc") == ["李四技能大师工作室"]
    assert found(api, "nbdx") == ["博士后工作站（慈溪）", "Maker空间"]
    assert_keys_current(app)


def test_organisations_are_searched_and_sorted_the_same_way(api, admin, town):
    path = "/api/v1/organizations"
    assert found(api, "gnjt", token=admin, path=path) == ["公牛集团有限公司"]
    assert found(api, None, token=admin, path=path) == ["公牛集团有限公司", "宁波大学科学技术学院"]
    assert found(api, None, token=admin, sort="-name", path=path) == [
        "宁波大学科学技术学院",
        "公牛集团有限公司",
    ]


def test_directory_search_is_the_one_search(app, town):
    with app.test_request_context(BASE), db.database.connection_context():
        rows = list(directory.search("ｇｏｎｇｎｉｕ"))
    assert [row.name for row in rows] == ["Maker空间", "张三技能大师工作室"]


def test_an_approved_registration_creates_organisations_with_keys(
    app, api, admin, org_factory, make_token
):
    college = org_factory(name="宁波大学科学技术学院", kind="university")
    partner = make_token("partner", [college["id"]])
    code = "91330282000000009" + uscc.check_character("91330282000000009")
    body = {
        "name": "新松校企合作实习实践基地",
        "level": "county",
        "host_uscc": code,
        "host_name": "新松机器人有限公司",
        "partners": [{"organization_id": college["id"], "role": "university"}],
        "contact": {"name": "王老师", "phone": "0574-12345678"},
    }
    submitted = api.post("/api/v1/registrations", json=body, token=partner)
    assert submitted.status_code == 201, submitted.get_json()
    registration = submitted.get_json()["id"]
    regs = "/api/v1/registrations"
    assert found(api, "xinsong", token=partner, path=regs) == ["新松校企合作实习实践基地"]
    etag = api.get(f"/api/v1/registrations/{registration}", token=admin).headers["ETag"]
    approved = api.post(
        f"/api/v1/registrations/{registration}/approve",
        json={"status": "applying", "occurred_on": "2025-01-02"},
        token=admin,
        headers={"If-Match": etag},
    )
    assert approved.status_code == 200, approved.get_json()
    assert found(api, "xsjqr", token=admin) == ["新松校企合作实习实践基地"]
    assert_keys_current(app)


def assert_keys_current(app) -> None:
    """Every stored key is what the live functions make of today's names."""
    with app.app_context(), db.database.connection_context():
        hosts = {org.id: org.name for org in Organization.select()}
        for org in Organization.select():
            assert org.search_key == names.search_key(org.name), org.name
            assert org.sort_key == names.sort_key(org.name), org.name
        for carrier in Carrier.select():
            expected = names.search_key(carrier.name, hosts[carrier.host_organization_id])
            assert carrier.search_key == expected, carrier.name
            assert carrier.sort_key == names.sort_key(carrier.name), carrier.name


@pytest.mark.parametrize(
    "name",
    ["绿色银行", "嗯呣", "重庆长安汽车", "ABC（宁波）有限公司", "吕·ü 1号", "技能大师工作室"],
)
def test_initials_in_the_search_key_are_pypinyins_first_letters(name):
    from pypinyin import Style, lazy_pinyin

    letters = lazy_pinyin(names.normalise(name), style=Style.FIRST_LETTER, errors=list)
    assert names.search_key(name).split("\n")[2] == "".join(s for s in letters if s.isalnum())


def test_step_11_backfills_the_keys_of_existing_rows(tmp_path, template_db):
    """A database at step 10 with organisations and carriers upgrades with their keys written
    as the live functions write them."""
    import os

    from registry import create_app

    url = os.environ.get("REGISTRY_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'old.db'}"
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SCHEDULER": False})
    with app.app_context(), db.database.connection_context():
        if os.environ.get("REGISTRY_TEST_DATABASE_URL"):
            db.database.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        schema.upgrade(up_to=10)
        host = migrations.Organization.create(name="公牛集团（慈溪）", kind="enterprise")
        migrations.Carrier.create(
            name="技能大师工作室",
            type="skill_master_studio",
            level="county",
            host_organization=host,
            initial_level="county",
            attributes="{}",
            created_at=dt.datetime(2025, 1, 2),
        )
        assert schema.upgrade(up_to=11) == [11]
        schema.upgrade()  # later steps too: the database is left current for the next tests
    assert_keys_current(app)
    with app.app_context(), db.database.connection_context():
        carrier = Carrier.get()
        assert "jndsgzs" in carrier.search_key.split("\n")
        assert "gnjt(cx)" not in carrier.search_key  # brackets are no pinyin
        assert "公牛集团(慈溪)" in carrier.search_key.split("\n")
