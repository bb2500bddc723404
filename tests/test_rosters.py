"""Carrier rosters (issue 12): each role's fields and validation, access to personal data,
audit masking, erasure, live metrics and the compare-and-write of edits."""

import datetime as dt

import pytest

from registry import clock, uscc
from registry.models import Member

D = dt.date.fromisoformat
TODAY = clock.today


def members_path(carrier_id, member_id=None):
    path = f"/api/v1/carriers/{carrier_id}/members"
    return path if member_id is None else f"{path}/{member_id}"


@pytest.fixture
def station(carrier_factory, accredit):
    """An accredited postdoctoral workstation and its host organisation's operator token."""

    def make(carrier_type="postdoc_workstation", accredited_on="2020-03-01", **fields):
        carrier = carrier_factory(type=carrier_type, level="provincial", **fields)
        if accredited_on:
            accredit(carrier["id"], accredited_on)
        return carrier

    return make


def add(api, token, carrier_id, **body):
    return api.post(members_path(carrier_id), json=body, token=token)


def patch(api, token, carrier_id, member_id, body):
    etag = api.get(members_path(carrier_id, member_id), token=token).headers["ETag"]
    return api.patch(
        members_path(carrier_id, member_id), json=body, token=token, headers={"If-Match": etag}
    )


# --- each role's fields ----------------------------------------------------------------


def test_postdoc_fields_and_default_planned_stay(api, admin, station):
    carrier = station()
    response = add(
        api,
        admin,
        carrier["id"],
        role="postdoc",
        name="张三",
        institution="宁波大学",
        topic="高分子材料",
        started_on="2023-09-01",
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["planned_end_on"] == "2025-09-01"  # 进站 + 2 years by default
    assert body["institution"] == "宁波大学" and body["topic"] == "高分子材料"
    assert body["extended"] is False and body["erased"] is False
    assert response.headers["ETag"] and response.headers["Location"].endswith(str(body["id"]))


@pytest.mark.parametrize(
    "carrier_type,body",
    [
        (
            "expert_workstation",
            {
                "role": "expert",
                "name": "李四",
                "institution": "浙江大学",
                "title": "教授",
                "started_on": "2024-01-01",
                "planned_end_on": "2026-12-31",
            },
        ),
        ("skill_master_studio", {"role": "master", "name": "王师傅", "started_on": "2022-01-01"}),
        (
            "skill_master_studio",
            {"role": "apprentice", "name": "小赵", "title": "中级工", "started_on": "2024-03-01"},
        ),
        (
            "training",
            {
                "role": "trainee_cohort",
                "name": "2024 春季班",
                "size": 40,
                "started_on": "2024-03-01",
            },
        ),
        ("maker_space", {"role": "resident_enterprise", "started_on": "2023-05-01"}),
    ],
)
def test_each_role_is_accepted_on_its_carrier_type(
    api, admin, station, org_factory, carrier_type, body
):
    if carrier_type == "training":
        carrier_type = "public_training_base"
    if body["role"] == "resident_enterprise":
        body = {**body, "organization_id": org_factory(name="慈溪某科技有限公司")["id"]}
    carrier = station(carrier_type)
    response = add(api, admin, carrier["id"], **body)
    assert response.status_code == 201, response.get_json()
    shown = response.get_json()
    for key, value in body.items():
        assert shown[key] == value
    if body["role"] == "resident_enterprise":
        assert shown["organization"]["name"] == "慈溪某科技有限公司"


@pytest.mark.parametrize(
    "carrier_type,role",
    [
        ("skill_master_studio", "postdoc"),
        ("postdoc_workstation", "resident_enterprise"),
        ("innovation_park", "expert"),
        ("expert_workstation", "trainee_cohort"),
        ("joint_training_base", "master"),
    ],
)
def test_a_role_the_carrier_type_does_not_take_is_refused(
    api, admin, station, db_state, carrier_type, role
):
    carrier = station(carrier_type)
    before = db_state()
    response = add(api, admin, carrier["id"], role=role, name="某人", started_on="2024-01-01")
    assert response.status_code == 422
    assert "role" in response.get_json()["errors"]
    assert db_state() == before


@pytest.mark.parametrize(
    "body,field",
    [
        # move-out before move-in
        (
            {"role": "postdoc", "name": "甲", "started_on": "2024-05-01", "ended_on": "2024-04-01"},
            "ended_on",
        ),
        # 出站 without 进站
        ({"role": "postdoc", "name": "甲", "ended_on": "2024-04-01"}, "ended_on"),
        # a field the role does not take
        ({"role": "postdoc", "name": "甲", "started_on": "2024-05-01", "size": 3}, "size"),
        # a required field missing
        ({"role": "postdoc", "started_on": "2024-05-01"}, "name"),
        # an outcome of another role, or one needing ended_on
        (
            {"role": "postdoc", "name": "甲", "started_on": "2024-05-01", "outcome": "graduated"},
            "outcome",
        ),
        (
            {"role": "postdoc", "name": "甲", "started_on": "2024-05-01", "outcome": "completed"},
            "outcome",
        ),
        # a stay longer than 2 years + one extension of 1 year
        (
            {
                "role": "postdoc",
                "name": "甲",
                "started_on": "2024-05-01",
                "planned_end_on": "2027-05-02",
            },
            "planned_end_on",
        ),
        # a date no stay can be added to
        ({"role": "postdoc", "name": "甲", "started_on": "9999-06-01"}, "started_on"),
        # an end in the future
        (
            {"role": "postdoc", "name": "甲", "started_on": "2024-05-01", "ended_on": "2999-01-01"},
            "ended_on",
        ),
    ],
)
def test_invalid_entries_are_refused_with_422(api, admin, station, db_state, body, field):
    carrier = station()
    before = db_state()
    response = add(api, admin, carrier["id"], **body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert db_state() == before


def test_overlapping_stays_of_the_same_person_at_one_station_are_refused(
    api, admin, station, db_state
):
    carrier = station()
    first = add(
        api,
        admin,
        carrier["id"],
        role="postdoc",
        name="张三",
        started_on="2022-01-01",
        ended_on="2023-06-30",
        outcome="withdrawn",
    )
    assert first.status_code == 201
    before = db_state()
    response = add(
        api, admin, carrier["id"], role="postdoc", name=" 张三 ", started_on="2023-06-01"
    )
    assert response.status_code == 422
    assert "Overlaps" in response.get_json()["errors"]["started_on"][0]
    assert db_state() == before
    # The same person again after the first stay ended, or another person: fine.
    assert (
        add(
            api, admin, carrier["id"], role="postdoc", name="张三", started_on="2023-07-01"
        ).status_code
        == 201
    )
    assert (
        add(
            api, admin, carrier["id"], role="postdoc", name="李四", started_on="2023-06-01"
        ).status_code
        == 201
    )


def test_overlapping_residence_of_one_enterprise_is_refused(api, admin, station, org_factory):
    park = station("innovation_park")
    org = org_factory()
    body = {"role": "resident_enterprise", "organization_id": org["id"], "started_on": "2022-01-01"}
    assert add(api, admin, park["id"], **body).status_code == 201
    again = add(api, admin, park["id"], **{**body, "started_on": "2023-01-01"})
    assert again.status_code == 422


def test_unknown_enterprise_is_a_422(api, admin, station):
    park = station("maker_space")
    response = add(
        api,
        admin,
        park["id"],
        role="resident_enterprise",
        organization_id=999999,
        started_on="2022-01-01",
    )
    assert response.status_code == 422
    assert "organization_id" in response.get_json()["errors"]


def test_postdoc_out_of_station_and_one_extension(api, admin, station):
    carrier = station()
    created = add(api, admin, carrier["id"], role="postdoc", name="张三", started_on="2022-09-01")
    member = created.get_json()
    # The one extension: up to a year past the regular 2 years.
    extended = patch(api, admin, carrier["id"], member["id"], {"planned_end_on": "2025-03-01"})
    assert extended.status_code == 200, extended.get_json()
    assert extended.get_json()["extended"] is True
    assert extended.get_json()["outcome"] == "extended"
    # A second extension is refused.
    again = patch(api, admin, carrier["id"], member["id"], {"planned_end_on": "2025-08-01"})
    assert again.status_code == 422
    # 出站.
    out = patch(
        api, admin, carrier["id"], member["id"], {"ended_on": "2025-02-20", "outcome": "completed"}
    )
    assert out.status_code == 200, out.get_json()
    assert out.get_json()["outcome"] == "completed"
    # Moving 出站 before 进站 is refused.
    bad = patch(api, admin, carrier["id"], member["id"], {"ended_on": "2022-01-01"})
    assert bad.status_code == 422


def test_role_cannot_change_through_patch(api, admin, station):
    carrier = station()
    member = add(api, admin, carrier["id"], role="postdoc", name="甲", started_on="2024-01-01")
    response = patch(api, admin, carrier["id"], member.get_json()["id"], {"role": "expert"})
    assert response.status_code == 422


def test_patch_needs_if_match_and_refuses_a_stale_one(api, admin, station):
    carrier = station()
    member = add(api, admin, carrier["id"], role="postdoc", name="甲", started_on="2024-01-01")
    path = members_path(carrier["id"], member.get_json()["id"])
    assert api.patch(path, json={"topic": "新"}, token=admin).status_code == 428
    stale = member.headers["ETag"]
    assert (
        api.patch(path, json={"topic": "新"}, token=admin, headers={"If-Match": stale}).status_code
        == 200
    )
    assert (
        api.patch(path, json={"topic": "再"}, token=admin, headers={"If-Match": stale}).status_code
        == 412
    )


def test_two_writes_with_one_etag_one_wins_and_the_loser_changes_nothing(
    api, admin, station, db_state
):
    """PATCH and DELETE (erasure) compare the ETag's version with the stored one in their
    write transaction (registry/writes.py): of two writers holding one ETag one wins."""
    carrier = station()
    one = add(api, admin, carrier["id"], role="postdoc", name="甲", started_on="2024-01-01")
    other = add(api, admin, carrier["id"], role="postdoc", name="乙", started_on="2024-01-01")
    path = members_path(carrier["id"], one.get_json()["id"])
    etag = api.get(path, token=admin).headers["ETag"]
    first = api.patch(path, json={"topic": "先"}, token=admin, headers={"If-Match": etag})
    assert first.status_code == 200 and first.headers["ETag"] != etag
    state = db_state()
    second = api.patch(path, json={"topic": "后"}, token=admin, headers={"If-Match": etag})
    assert second.status_code == 412
    assert second.mimetype == "application/problem+json"
    assert api.delete(path, token=admin, headers={"If-Match": etag}).status_code == 412
    # Another entry's ETag names no version of this one.
    foreign = other.headers["ETag"]
    assert api.delete(path, token=admin, headers={"If-Match": foreign}).status_code == 412
    assert db_state() == state
    assert api.get(path, token=admin).get_json()["topic"] == "先"
    current = first.headers["ETag"]
    assert api.delete(path, token=admin, headers={"If-Match": current}).status_code == 204


# --- who reads and writes ----------------------------------------------------------------


@pytest.fixture
def two_operators(make_token, org_factory, station):
    """Carrier A (operator A's organisation) with a postdoc; operator B of another one."""

    def make(api, admin):
        org_a, org_b = org_factory(), org_factory()
        carrier = station(host_organization_id=org_a["id"])
        op_a = make_token("operator", [org_a["id"]])
        op_b = make_token("operator", [org_b["id"]])
        member = add(
            api,
            op_a,
            carrier["id"],
            role="postdoc",
            name="张三",
            institution="宁波大学",
            topic="机密课题",
            started_on="2024-01-01",
        )
        assert member.status_code == 201, member.get_json()
        return carrier, member.get_json(), op_a, op_b

    return make


def test_no_path_shows_a_name_to_the_public_or_another_organisation(
    api, admin, two_operators, make_token, org_factory
):
    carrier, member, op_a, op_b = two_operators(api, admin)
    partner = make_token("partner", [org_factory()["id"]])
    paths = [
        members_path(carrier["id"]),
        members_path(carrier["id"], member["id"]),
        "/api/v1/members",
        f"/api/v1/carriers/{carrier['id']}",
        "/api/v1/carriers",
        f"/api/v1/carriers/{carrier['id']}/history",
        "/api/v1/deadlines?within=3660&include_overdue=true",
    ]
    for token in (None, op_b, partner):
        for path in paths:
            response = api.get(path, token=token)
            text = response.get_data(as_text=True)
            assert "张三" not in text and "机密课题" not in text, (token, path)
    # Anonymous: 401 on the roster; another organisation: 403 on it, nothing in /members.
    assert api.get(members_path(carrier["id"])).status_code == 401
    assert api.get(members_path(carrier["id"]), token=op_b).status_code == 403
    assert api.get(members_path(carrier["id"], member["id"]), token=op_b).status_code == 403
    assert api.get("/api/v1/members", token=op_b).get_json() == []
    # The public sees the counts on the carrier.
    shown = api.get(f"/api/v1/carriers/{carrier['id']}").get_json()
    assert shown["roster_metrics"]["postdocs_in_station"] == 1


def test_operator_reads_and_keeps_its_own_roster_only(api, admin, two_operators):
    carrier, member, op_a, op_b = two_operators(api, admin)
    listed = api.get(members_path(carrier["id"]), token=op_a)
    assert [m["name"] for m in listed.get_json()] == ["张三"]
    assert [m["id"] for m in api.get("/api/v1/members", token=op_a).get_json()] == [member["id"]]
    refused = add(api, op_b, carrier["id"], role="postdoc", name="外人", started_on="2024-01-01")
    assert refused.status_code == 403
    etag = api.get(members_path(carrier["id"], member["id"]), token=op_a).headers["ETag"]
    assert (
        api.patch(
            members_path(carrier["id"], member["id"]),
            json={"topic": "改"},
            token=op_b,
            headers={"If-Match": etag},
        ).status_code
        == 403
    )


def test_viewer_reads_but_does_not_write(api, viewer, admin, two_operators):
    carrier, member, op_a, op_b = two_operators(api, admin)
    assert api.get(members_path(carrier["id"]), token=viewer).get_json()[0]["name"] == "张三"
    assert add(api, viewer, carrier["id"], role="postdoc", name="乙").status_code == 403


def test_members_list_filters(api, admin, station):
    station_a, station_b = station(), station()
    add(api, admin, station_a["id"], role="postdoc", name="在站甲", started_on="2024-01-01")
    add(
        api,
        admin,
        station_a["id"],
        role="postdoc",
        name="出站乙",
        started_on="2021-01-01",
        ended_on="2023-01-01",
        outcome="completed",
    )
    add(api, admin, station_b["id"], role="postdoc", name="在站丙", started_on="2024-02-01")
    names = lambda query: sorted(  # noqa: E731
        m["name"] for m in api.get(f"/api/v1/members?{query}", token=admin).get_json()
    )
    assert names(f"carrier_id={station_a['id']}") == ["出站乙", "在站甲"]
    assert names("active=true") == ["在站丙", "在站甲"]
    assert names("active=false") == ["出站乙"]
    assert names("q=丙") == ["在站丙"]
    assert names("role=expert") == []
    response = api.get("/api/v1/members?sort=-started_on&page_size=1", token=admin)
    assert response.headers["X-Total-Count"] == "3"
    assert response.get_json()[0]["name"] == "在站丙"
    assert api.get("/api/v1/members?role=boss", token=admin).status_code == 422


# --- audit masking and erasure ---------------------------------------------------------------


def test_audit_trail_masks_personal_fields_for_readers_other_than_the_bureau(
    api, admin, viewer, two_operators
):
    carrier, member, op_a, op_b = two_operators(api, admin)
    history = api.get(f"/api/v1/carriers/{carrier['id']}/history", token=op_a).get_json()
    created = next(c for c in history if c["object_type"] == "member")
    assert created["after"]["name"] == "***" and created["after"]["topic"] == "***"
    assert created["after"]["started_on"] == "2024-01-01"
    for token in (admin, viewer):
        history = api.get(f"/api/v1/carriers/{carrier['id']}/history", token=token).get_json()
        created = next(c for c in history if c["object_type"] == "member")
        assert created["after"]["name"] == "张三"
    changes = api.get("/api/v1/changes?object_type=member", token=viewer).get_json()
    assert changes[0]["after"]["name"] == "张三"


def test_erasure_removes_personal_fields_everywhere_and_counts_stay(
    api, admin, two_operators, in_db
):
    carrier, member, op_a, op_b = two_operators(api, admin)
    patch(api, op_a, carrier["id"], member["id"], {"title": "助理研究员"})
    before = api.get(f"/api/v1/carriers/{carrier['id']}").get_json()["roster_metrics"]
    path = members_path(carrier["id"], member["id"])
    etag = api.get(path, token=op_a).headers["ETag"]
    assert api.delete(path, token=op_a).status_code == 428
    assert api.delete(path, token=op_a, headers={"If-Match": etag}).status_code == 204
    shown = api.get(path, token=admin).get_json()
    assert shown["erased"] is True
    assert {shown[k] for k in ("name", "institution", "title", "topic")} == {None}
    assert shown["started_on"] == "2024-01-01"
    after = api.get(f"/api/v1/carriers/{carrier['id']}").get_json()["roster_metrics"]
    assert after == before and after["postdocs_in_station"] == 1
    # Nothing of the person is left in the audit trail or the outbox, even for the bureau.
    trail = api.get("/api/v1/changes?object_type=member", token=admin).get_data(as_text=True)
    assert "张三" not in trail and "宁波大学" not in trail and "助理研究员" not in trail
    from registry.models import OutboxEvent

    with in_db():
        assert Member.get_by_id(member["id"]).name is None
        for event in OutboxEvent.select():
            assert "张三" not in str(event.data)
    # A second erasure is a conflict; personal fields stay empty.
    etag = api.get(path, token=op_a).headers["ETag"]
    assert api.delete(path, token=op_a, headers={"If-Match": etag}).status_code == 409
    refused = patch(api, op_a, carrier["id"], member["id"], {"name": "张三"})
    assert refused.status_code == 409


# --- live metrics ----------------------------------------------------------------------------


def test_live_metrics_against_hand_counted_fixtures(api, admin, station, org_factory):
    postdoc = station()
    year = TODAY().year
    entries = [
        # in station today: 2
        {"role": "postdoc", "name": "甲", "started_on": f"{year - 1}-01-01"},
        {"role": "postdoc", "name": "乙", "started_on": f"{year - 1}-06-01"},
        # completed in two different years, withdrawn once (not counted as completed)
        {
            "role": "postdoc",
            "name": "丙",
            "started_on": f"{year - 4}-01-01",
            "ended_on": f"{year - 2}-01-10",
            "outcome": "completed",
        },
        {
            "role": "postdoc",
            "name": "丁",
            "started_on": f"{year - 3}-01-01",
            "ended_on": f"{year - 1}-02-01",
            "outcome": "completed",
        },
        {
            "role": "postdoc",
            "name": "戊",
            "started_on": f"{year - 3}-03-01",
            "ended_on": f"{year - 2}-03-01",
            "outcome": "withdrawn",
        },
    ]
    for body in entries:
        assert add(api, admin, postdoc["id"], **body).status_code == 201
    park = station("innovation_park")
    orgs = [org_factory()["id"] for _ in range(4)]
    for index, org in enumerate(orgs):
        body = {
            "role": "resident_enterprise",
            "organization_id": org,
            "started_on": f"{year - 3}-01-01",
        }
        if index == 0:
            body |= {"ended_on": f"{year - 1}-01-01", "outcome": "graduated"}
        if index == 1:
            body |= {"ended_on": f"{year - 1}-01-01", "outcome": "moved_out"}
        assert add(api, admin, park["id"], **body).status_code == 201, body
    expert = station("expert_workstation")
    add(
        api,
        admin,
        expert["id"],
        role="expert",
        name="专家甲",
        institution="浙大",
        started_on=f"{year - 1}-01-01",
    )
    add(
        api,
        admin,
        expert["id"],
        role="expert",
        name="专家乙",
        institution="浙大",
        started_on=f"{year - 3}-01-01",
        ended_on=f"{year - 1}-01-01",
        outcome="completed",
    )

    shown = {
        c["id"]: c["roster_metrics"] for c in api.get("/api/v1/carriers?page_size=100").get_json()
    }
    assert shown[postdoc["id"]] == {
        "postdocs_in_station": 2,
        "postdocs_completed": {str(year - 2): 1, str(year - 1): 1},
        "experts_active": 0,
        "resident_enterprises": 0,
        "graduated_enterprises": 0,
    }
    assert shown[park["id"]]["resident_enterprises"] == 2
    assert shown[park["id"]]["graduated_enterprises"] == 1
    assert shown[expert["id"]]["experts_active"] == 1


def test_roster_metrics_take_a_constant_number_of_queries(api, admin, station, count_queries):
    def list_queries():
        count_queries.statements.clear()
        assert api.get("/api/v1/carriers?page_size=100", token=admin).status_code == 200
        return len(count_queries.statements)

    carrier = station()
    add(api, admin, carrier["id"], role="postdoc", name="甲", started_on="2024-01-01")
    few = list_queries()
    for index in range(4):
        other = station()
        add(api, admin, other["id"], role="postdoc", name=f"乙{index}", started_on="2024-01-01")
    assert list_queries() == few


# --- targets -------------------------------------------------------------------------------


def test_a_target_using_roster_count(api, admin, station):
    year = TODAY().year
    provincial = station()
    for index, started in enumerate([f"{year}-01-01", f"{year - 1}-01-01", f"{year}-01-02"]):
        add(api, admin, provincial["id"], role="postdoc", name=f"甲{index}", started_on=started)
    add(
        api,
        admin,
        provincial["id"],
        role="postdoc",
        name="出站",
        started_on=f"{year - 3}-01-01",
        ended_on=f"{year - 1}-01-01",
        outcome="completed",
    )
    body = {
        "name": "在站博士后 10 人",
        "metric": "roster_count",
        "filter": {"type": "postdoc_workstation", "role": "postdoc", "active": True},
        "target_value": 10,
        "deadline": f"{year}-12-31",
    }
    created = api.post("/api/v1/targets", json=body, token=admin)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["progress"]["current"] == 3
    recruited = {**body, "name": "当年新进站", "year": year, "filter": {"role": "postdoc"}}
    assert (
        api.post("/api/v1/targets", json=recruited, token=admin).get_json()["progress"]["current"]
        == 2
    )
    # carrier_count with a role: stations having a postdoc in station.
    stations = {
        "name": "有在站博士后的工作站",
        "metric": "carrier_count",
        "filter": {"type": "postdoc_workstation", "role": "postdoc", "active": True},
        "target_value": 5,
        "deadline": f"{year}-12-31",
    }
    station()  # one without postdocs: not counted
    assert (
        api.post("/api/v1/targets", json=stations, token=admin).get_json()["progress"]["current"]
        == 1
    )
    # report_sum takes no roster filter.
    refused = api.post(
        "/api/v1/targets",
        json={
            **stations,
            "metric": "report_sum",
            "report_metric": "postdocs_in_station",
            "year": year,
        },
        token=admin,
    )
    assert refused.status_code == 422


# --- annual reports -------------------------------------------------------------------------


def test_report_prefilled_from_the_roster_and_mismatch_shown_to_the_reviewer(api, admin, station):
    year = TODAY().year - 1
    carrier = station(accredited_on=f"{year - 2}-01-01")
    add(api, admin, carrier["id"], role="postdoc", name="甲", started_on=f"{year}-03-01")
    add(api, admin, carrier["id"], role="postdoc", name="乙", started_on=f"{year - 1}-03-01")
    add(
        api,
        admin,
        carrier["id"],
        role="postdoc",
        name="丙",
        started_on=f"{year - 2}-03-01",
        ended_on=f"{year}-04-01",
        outcome="completed",
    )
    prefill = api.get(
        f"/api/v1/carriers/{carrier['id']}/annual-reports/prefill?year={year}", token=admin
    )
    assert prefill.status_code == 200, prefill.get_json()
    assert prefill.get_json() == {
        "year": year,
        "metrics": {"postdocs_in_station": 2, "postdocs_recruited": 1, "postdocs_completed": 1},
    }
    metrics = {"postdocs_in_station": 5, "postdocs_recruited": 1, "research_projects": 3}
    posted = api.post(
        f"/api/v1/carriers/{carrier['id']}/annual-reports",
        json={"year": year, "metrics": metrics},
        token=admin,
    )
    assert posted.status_code == 201, posted.get_json()
    shown = api.get(f"/api/v1/annual-reports/{posted.get_json()['id']}", token=admin).get_json()
    assert shown["roster_mismatches"] == [
        {"metric": "postdocs_in_station", "reported": 5, "roster": 2}
    ]
    assert (
        api.get(f"/api/v1/carriers/{carrier['id']}/annual-reports/prefill?year={year}").status_code
        == 401
    )


# --- demo -------------------------------------------------------------------------------------


def test_demo_rosters_make_metrics_and_alerts_non_trivial(app, api, admin, in_db):
    from registry.models import Alert

    result = app.test_cli_runner().invoke(args=["load-fixtures"])
    assert result.exit_code == 0, result.output
    assert "roster entries created" in result.output
    again = app.test_cli_runner().invoke(args=["load-fixtures"]).output
    assert "Demo: 0 roster entries created." in again
    carriers = {
        c["name"]: c for c in api.get("/api/v1/carriers?page_size=100", token=admin).get_json()
    }
    assert (
        carriers["示例博士后科研工作站（公牛集团）"]["roster_metrics"]["postdocs_in_station"] == 3
    )
    assert carriers["上林英才创业园"]["roster_metrics"]["resident_enterprises"] == 3
    assert carriers["上林英才创业园"]["roster_metrics"]["graduated_enterprises"] == 1
    scan = app.test_cli_runner().invoke(args=["scan"])
    assert scan.exit_code == 0, scan.output
    with in_db():
        kinds = {alert.kind for alert in Alert.select().where(Alert.status == "open")}
    assert {"postdoc_overstay", "no_postdoc_recruited", "incubation_overdue"} <= kinds


def test_partner_reads_the_roster_of_its_approved_joint_base(api, admin, make_token, org_factory):
    first17 = "91330282000000712"
    enterprise = org_factory(uscc=first17 + uscc.check_character(first17))
    university = org_factory(kind="university")
    partner = make_token("partner", [university["id"]])
    other_partner = make_token("partner", [org_factory(kind="university")["id"]])
    registration = api.post(
        "/api/v1/registrations",
        json={
            "name": "校企合作实习实践基地",
            "level": "county",
            "host_uscc": enterprise["uscc"],
            "host_name": enterprise["name"],
            "partners": [{"organization_id": university["id"], "role": "university"}],
            "contact": {"name": "王老师", "phone": "0574-12345678"},
        },
        token=partner,
    )
    assert registration.status_code == 201, registration.get_json()["errors"]
    base = registration.get_json()["id"]
    approved = api.post(
        f"/api/v1/registrations/{base}/approve",
        json={"status": "accredited", "occurred_on": "2024-06-01"},
        token=admin,
    )
    assert approved.status_code == 200, approved.get_json()
    cohort = add(
        api,
        admin,
        base,
        role="trainee_cohort",
        name="机电 2024 级",
        size=30,
        started_on="2024-09-01",
    )
    assert cohort.status_code == 201, cohort.get_json()
    assert [m["name"] for m in api.get(members_path(base), token=partner).get_json()] == [
        "机电 2024 级"
    ]
    assert api.get(members_path(base), token=other_partner).status_code == 403
    # Partners read; they do not keep the roster.
    refused = add(
        api, partner, base, role="trainee_cohort", name="另一班", size=5, started_on="2024-09-01"
    )
    assert refused.status_code == 403


def test_an_enterprise_on_a_roster_cannot_be_deleted(api, admin, station, org_factory, db_state):
    park = station("innovation_park")
    org = org_factory()
    add(
        api,
        admin,
        park["id"],
        role="resident_enterprise",
        organization_id=org["id"],
        started_on="2023-01-01",
    )
    path = f"/api/v1/organizations/{org['id']}"
    etag = api.get(path, token=admin).headers["ETag"]
    before = db_state()
    response = api.delete(path, token=admin, headers={"If-Match": etag})
    assert response.status_code == 409
    assert db_state() == before
