"""The one read path (registry.directory): scope, hidden fields, rank order, ``as_of``.

Issue 9, defect 4: hidden dates leaked through ``as_of`` and the stats (a binary search on
``evaluation_due_before`` recovered an exact ``next_evaluation_on``), a sort on a hidden date
ordered the public list, and an anonymous ``as_of`` showed past ``rectifying`` states. Now a
filter or sort on a hidden field is a 403 naming it for everyone but the bureau, and no
answer a non-bureau caller gets depends on a hidden value (the swap test below).
"""

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import access, clock, directory
from registry.vocabulary import CARRIER_STATUSES, LEVELS
from schemas.carriers import CarrierQueryArgsSchema

BASE = "/api/v1/carriers"
STATS = "/api/v1/stats/carriers"


def refused_for(response, *params):
    assert response.status_code == 403, response.get_json()
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert set(body["errors"]) == set(params)
    return body


@pytest.fixture
def hidden_due(api, admin, carrier_factory, accredit):
    """One accredited carrier with a known hidden next evaluation date (2031-05-17)."""
    carrier = carrier_factory(name="隐秘工作室")
    accredit(carrier["id"], "2024-01-10")
    url = f"{BASE}/{carrier['id']}"
    etag = api.get(url, token=admin).headers["ETag"]
    response = api.patch(
        url, json={"next_evaluation_on": "2031-05-17"}, token=admin, headers={"If-Match": etag}
    )
    assert response.status_code == 200
    return carrier


# --- regressions of the leaks the issue describes --------------------------------------------


def test_binary_search_on_a_hidden_date_with_as_of_is_refused(
    api, admin, viewer, hidden_due, make_token, org_factory
):
    today = clock.today().isoformat()
    outsider = make_token("operator", [org_factory()["id"]])
    owner = make_token("operator", [hidden_due["host_organization_id"]])
    for before in ("2031-05-16", "2031-05-17"):
        for token in (None, outsider, owner):
            for extra in ({"as_of": today}, {}):
                query = urlencode({"evaluation_due_before": before, **extra})
                body = refused_for(api.get(f"{BASE}?{query}", token=token), "evaluation_due_before")
                assert "next_evaluation_on" in body["detail"]
                refused_for(api.get(f"{STATS}?{query}", token=token), "evaluation_due_before")
                refused_for(
                    api.get(f"{BASE}?report_due_before={before}", token=token), "report_due_before"
                )
    # The bureau still filters by it, on the list and as of today alike.
    for token in (admin, viewer):
        for extra in ("", f"&as_of={today}"):
            hit = api.get(f"{BASE}?evaluation_due_before=2031-05-17{extra}", token=token)
            miss = api.get(f"{BASE}?evaluation_due_before=2031-05-16{extra}", token=token)
            assert [c["id"] for c in hit.get_json()] == [hidden_due["id"]]
            assert miss.get_json() == []


@pytest.mark.parametrize("key", ["next_evaluation_on", "-next_report_due_on"])
def test_sorting_by_a_hidden_date_is_refused(api, admin, hidden_due, make_token, org_factory, key):
    outsider = make_token("operator", [org_factory()["id"]])
    today = clock.today().isoformat()
    for token in (None, outsider):
        for extra in ("", f"&as_of={today}"):
            body = refused_for(api.get(f"{BASE}?sort=name,{key}{extra}", token=token), "sort")
            assert key.lstrip("-") in body["detail"]
            refused_for(api.get(f"{STATS}?sort={key}{extra}", token=token), "sort")
        assert api.get(f"{BASE}?sort=name", token=token).status_code == 200
    assert api.get(f"{BASE}?sort={key}", token=admin).status_code == 200
    assert api.get(f"{BASE}?sort={key}&as_of={today}", token=admin).status_code == 200


def test_a_refusal_names_every_hidden_parameter(api):
    query = "evaluation_due_before=2030-01-01&report_due_before=2030-01-01&sort=-next_evaluation_on"
    body = refused_for(
        api.get(f"{BASE}?{query}"), "evaluation_due_before", "report_due_before", "sort"
    )
    for field in ("next_evaluation_on", "next_report_due_on"):
        assert field in body["detail"]


@pytest.fixture
def rectified(carrier_factory, record, make_token):
    """Accredited in 2020, failed an evaluation in 2021 (rectifying until September)."""
    carrier = carrier_factory(name="整改工作室")
    for kind, on, extra in (
        ("accredited", "2020-01-10", {}),
        ("annual_assessment", "2021-03-01", {"result": "fail", "rectify_by": "2021-12-31"}),
        ("rectification_completed", "2021-09-01", {}),
    ):
        assert record(carrier["id"], kind, on, **extra).status_code == 201
    owner = make_token("operator", [carrier["host_organization_id"]])
    return carrier, owner


def test_anonymous_as_of_never_shows_a_past_rectifying_state(
    api, admin, rectified, make_token, org_factory
):
    carrier, owner = rectified
    outsider = make_token("partner", [org_factory()["id"]])
    url = f"{BASE}/{carrier['id']}"
    for token in (None, outsider):
        assert api.get(f"{BASE}?as_of=2021-06-01", token=token).get_json() == []
        assert api.get(f"{BASE}?as_of=2021-06-01&status=rectifying", token=token).get_json() == []
        stats = api.get(f"{STATS}?as_of=2021-06-01&group_by=status", token=token).get_json()
        assert stats == {"total": 0, "groups": []}
        one = api.get(f"{url}?as_of=2021-06-01", token=token)
        assert one.status_code == 404
        # One answer whether the history had begun or not: nothing told apart.
        assert one.get_json()["detail"] == api.get(
            f"{url}?as_of=2019-06-01", token=token
        ).get_json()["detail"].replace("2019-06-01", "2021-06-01")
        after = api.get(f"{BASE}?as_of=2022-01-01", token=token).get_json()
        assert [(c["id"], c["status"]) for c in after] == [(carrier["id"], "accredited")]
        assert api.get(f"{url}?as_of=2022-01-01", token=token).get_json()["status"] == "accredited"
    for token in (admin, owner):
        past = api.get(f"{BASE}?as_of=2021-06-01&status=rectifying", token=token).get_json()
        assert [c["id"] for c in past] == [carrier["id"]]
        assert api.get(f"{url}?as_of=2021-06-01", token=token).get_json()["status"] == "rectifying"
        groups = api.get(f"{STATS}?as_of=2021-06-01&group_by=status", token=token).get_json()
        assert groups["groups"] == [{"status": "rectifying", "count": 1}]


# --- rank order ------------------------------------------------------------------------------


def test_level_and_status_sort_in_rank_order(api, admin, carrier_factory, accredit, record):
    made = {}
    for level in ("county", "national", "municipal", "provincial"):
        made[level] = carrier_factory(name=f"载体{level}", level=level)
        accredit(made[level]["id"], "2020-01-10")
    record(made["municipal"]["id"], "annual_assessment", "2021-03-01", result="fail")
    record(made["county"]["id"], "revoked", "2021-04-01")
    for extra in ("", "&as_of=2022-01-01"):
        levels = [c["level"] for c in api.get(f"{BASE}?sort=level{extra}", token=admin).get_json()]
        assert levels == LEVELS
        down = [c["level"] for c in api.get(f"{BASE}?sort=-level{extra}", token=admin).get_json()]
        assert down == LEVELS[::-1]
        statuses = [
            c["status"] for c in api.get(f"{BASE}?sort=status,name{extra}", token=admin).get_json()
        ]
        assert statuses == sorted(statuses, key=list(CARRIER_STATUSES).index)
        assert statuses == ["accredited", "accredited", "rectifying", "revoked"]


# --- the rules are declared once -------------------------------------------------------------


def test_every_list_filter_declares_the_fields_it_reads():
    filters = set(CarrierQueryArgsSchema().fields) - {"page", "page_size", "sort", "as_of"}
    assert filters == set(directory.FILTER_FIELDS)
    assert directory.HIDDEN_FILTERS == {"evaluation_due_before", "report_due_before"}
    assert directory.HIDDEN_SORTS == {"next_evaluation_on", "next_report_due_on"}
    assert set(directory.GROUP_KEYS) <= access.PUBLIC_CARRIER_FIELDS


def test_openapi_says_which_filters_and_sorts_are_bureau_only(api):
    document = api.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/carriers", "/api/v1/stats/carriers"):
        operation = document["paths"][path]["get"]
        described = {p["name"]: p.get("description", "") for p in operation["parameters"]}
        for name in directory.HIDDEN_FILTERS:
            assert "Bureau only" in described[name], name
        assert "next_evaluation_on" in described["sort"] and "bureau" in described["sort"]
        assert "403" in operation["responses"]


# --- no answer depends on a hidden value -----------------------------------------------------

#: Days the twins below show the same public fields on (checked by the test): before their
#: histories differ, and after. On a day one of them was rectifying they differ in a public
#: field (status), and the public directory of that day rightly shows only the other.
SAME_DAYS = ("2020-06-01", "2022-06-01")
HIDDEN_COLUMNS = (
    "status",
    "level",
    "accredited_on",
    "certificate_no",
    "milestone_valid_until",
    "valid_until_override",
    "next_evaluation_override",
    "valid_until",
    "next_evaluation_on",
    "next_report_due_on",
    "next_report_year",
    "cycle_start",
    "last_evaluation_on",
    "rectify_by",
    "attributes",
    "contact",
    "lead_person",
    "version",
)


@pytest.fixture
def twins(api, admin, org_factory, carrier_factory, record, in_db):
    """Two accredited carriers equal in every public field but with different hidden dates,
    contacts and status histories; ``swap()`` exchanges everything hidden between them."""
    from registry.models import Alert, AnnualReport, Carrier, Milestone

    host = org_factory(name="孪生宿主")
    # A host has one carrier of a name (409 through the API): the second twin is created
    # under another name and given the first one's below, in the database.
    made = [
        carrier_factory(name=name, host_organization_id=host["id"], tags=["甲"])
        for name in ("孪生载体", "孪生载体乙")
    ]
    first, second = (carrier["id"] for carrier in made)
    for carrier_id in (first, second):
        assert (
            record(carrier_id, "accredited", "2020-01-10", certificate_no="C-1").status_code == 201
        )
    for kind, on, extra in (
        ("annual_assessment", "2021-03-01", {"result": "fail", "rectify_by": "2021-12-31"}),
        ("rectification_completed", "2021-09-01", {}),
    ):
        assert record(first, kind, on, **extra).status_code == 201
    for carrier_id, due, person in ((first, "2030-03-03", "张三"), (second, None, "李四")):
        url = f"{BASE}/{carrier_id}"
        etag = api.get(url, token=admin).headers["ETag"]
        body = {"next_evaluation_on": due, "lead_person": person}
        assert api.patch(url, json=body, token=admin, headers={"If-Match": etag}).status_code == 200
    other = org_factory(name="别家")
    neighbour = carrier_factory(name="邻居", host_organization_id=other["id"])
    assert record(neighbour["id"], "accredited", "2020-01-10").status_code == 201
    # Public timestamps (and names) equal too, so that nothing but the id (public) orders
    # the twins.
    with in_db():
        stamp = Carrier.get_by_id(first)
        Carrier.update(
            name=stamp.name, created_at=stamp.created_at, updated_at=stamp.updated_at
        ).where(Carrier.id == second).execute()

    def swap():
        with in_db():
            a, b = Carrier.get_by_id(first), Carrier.get_by_id(second)
            for name in HIDDEN_COLUMNS:
                x, y = getattr(a, name), getattr(b, name)
                setattr(a, name, y)
                setattr(b, name, x)
            a.save()
            b.save()
            # Rows keyed by carrier (one report a year, one alert per kind and date) may be
            # alike on both twins: take them out, then put them back the other way round.
            for model in (Milestone, AnnualReport, Alert):
                rows = list(model.select().where(model.carrier.in_([first, second])).dicts())
                model.delete().where(model.carrier.in_([first, second])).execute()
                for row in rows:
                    row["carrier"] = second if row["carrier"] == first else first
                if rows:
                    model.insert_many(rows).execute()

    return {"ids": (first, second), "swap": swap, "other": other, "host": host}


def public_twins(api, admin, ids, day=None):
    """The twins as the bureau sees them, public fields only, without the id."""
    query = f"?as_of={day}" if day else ""
    views = [api.get(f"{BASE}/{i}{query}", token=admin).get_json() for i in ids]
    return [
        {k: v for k, v in view.items() if k in access.PUBLIC_CARRIER_FIELDS - {"id"}}
        for view in views
    ]


FILTER_VALUES = {
    "type": ["skill_master_studio", "innovation_park"],
    "level": LEVELS,
    "level_min": LEVELS,
    "status": list(CARRIER_STATUSES),
    "tag": ["甲", "乙"],
    "q": ["孪生", "邻"],
    "accredited_from": ["2020-01-10", "2020-01-11"],
    "accredited_to": ["2020-01-09", "2020-01-10"],
    "evaluation_due_before": ["2023-01-10", "2030-03-03", "2035-01-01"],
    "report_due_before": ["2022-01-01", "2030-01-01"],
}


@st.composite
def questions(draw):
    """A list or stats query over any filters, sort keys and ``as_of`` (hidden ones too)."""
    params = {}
    for name in draw(st.lists(st.sampled_from(sorted(FILTER_VALUES)), max_size=3, unique=True)):
        params[name] = draw(st.sampled_from(FILTER_VALUES[name]))
    keys = draw(st.lists(st.sampled_from(directory.SORT_KEYS), max_size=3, unique=True))
    if keys:
        params["sort"] = ",".join(draw(st.sampled_from(["", "-"])) + key for key in keys)
    day = draw(st.sampled_from([None, *SAME_DAYS, "today"]))
    if day:
        params["as_of"] = clock.today().isoformat() if day == "today" else day
    if draw(st.booleans()):
        params["group_by"] = ",".join(
            draw(st.lists(st.sampled_from(directory.GROUP_KEYS), min_size=1, unique=True))
        )
        return f"{STATS}?{urlencode(params)}"
    return f"{BASE}?{urlencode(params)}"


def answer(api, url, token):
    response = api.get(url, token=token)
    assert response.status_code in (200, 403), (url, response.get_json())
    return response.status_code, response.headers.get("X-Total-Count"), response.get_json()


def test_twins_differ_only_in_hidden_fields(api, admin, twins):
    ids = twins["ids"]
    for day in (None, *SAME_DAYS):
        first, second = public_twins(api, admin, ids, day)
        assert first == second, day
    full = [api.get(f"{BASE}/{i}", token=admin).get_json() for i in ids]
    assert full[0]["next_evaluation_on"] != full[1]["next_evaluation_on"]
    # The bureau does tell them apart (so the swap below is a real change).
    url = f"{BASE}?sort=-next_evaluation_on,name&q=孪生"
    before = [c["id"] for c in api.get(url, token=admin).get_json()]
    twins["swap"]()
    after = [c["id"] for c in api.get(url, token=admin).get_json()]
    assert before == after[::-1]
    for day in (None, *SAME_DAYS):
        first, second = public_twins(api, admin, ids, day)
        assert first == second, day


def test_fixed_questions_cannot_tell_the_twins_apart(api, make_token, twins):
    """Every filter value and every sort key alone, with and without ``as_of``."""
    callers = [
        None,
        make_token("operator", [twins["other"]["id"]]),
        make_token("partner", [twins["host"]["id"]]),
    ]
    urls = [f"{STATS}?group_by=type,level,status,town"]
    for name, values in FILTER_VALUES.items():
        urls += [f"{BASE}?{urlencode({name: value})}" for value in values]
    for key in directory.SORT_KEYS:
        urls += [f"{BASE}?sort={key}", f"{BASE}?sort=-{key}"]
    urls += [f"{url}&as_of={day}" for url in urls for day in SAME_DAYS]
    urls += [f"{STATS}?as_of={day}&group_by=status" for day in SAME_DAYS]
    before = [answer(api, url, token) for url in urls for token in callers]
    twins["swap"]()
    after = [answer(api, url, token) for url in urls for token in callers]
    for url_token, one, other in zip(
        [(url, token) for url in urls for token in callers], before, after, strict=True
    ):
        assert one == other, url_token


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(asked=st.lists(questions(), min_size=15, max_size=15))
def test_no_question_can_tell_the_twins_apart(api, make_token, twins, asked):
    """Any combination of filters, sort keys, stats and ``as_of``: the anonymous and another
    organisation's operator get the same answers before and after the hidden values swap."""
    callers = [None, make_token("operator", [twins["other"]["id"]])]
    before = [answer(api, url, token) for url in asked for token in callers]
    twins["swap"]()
    try:
        after = [answer(api, url, token) for url in asked for token in callers]
    finally:
        twins["swap"]()
    assert before == after


def test_one_carrier_is_seen_by_exactly_those_whose_list_shows_it(
    api, make_token, org_factory, carrier_factory, accredit
):
    """``GET /carriers/{id}`` (one carrier read, then ``access.can_see_carrier``) and the list
    (``access.carrier_scope`` in SQL) are one rule: every role sees the same carriers
    through both."""
    own, other = org_factory(), org_factory()
    partner_org = org_factory(kind="university")
    applying = carrier_factory(host_organization_id=own["id"])
    accredited = carrier_factory(host_organization_id=own["id"])
    accredit(accredited["id"], "2020-03-01")
    partnered = carrier_factory(
        host_organization_id=other["id"],
        partners=[{"organization_id": partner_org["id"], "role": "university"}],
    )
    foreign = carrier_factory(host_organization_id=other["id"])
    ids = {c["id"] for c in (applying, accredited, partnered, foreign)}
    callers = {
        "anonymous": None,
        "operator of the host": make_token("operator", [own["id"]]),
        "operator of a partner": make_token("operator", [partner_org["id"]]),
        "operator elsewhere": make_token("operator", [org_factory()["id"]]),
        "partner": make_token("partner", [own["id"]]),
        "bureau viewer": make_token("bureau_viewer"),
    }
    for name, token in callers.items():
        listed = api.get("/api/v1/carriers?page_size=100", token=token).get_json()
        in_list = {c["id"] for c in listed} & ids
        one_by_one = {
            carrier_id
            for carrier_id in ids
            if api.get(f"/api/v1/carriers/{carrier_id}", token=token).status_code == 200
        }
        assert one_by_one == in_list, name
    assert in_list == ids  # the bureau viewer sees them all
