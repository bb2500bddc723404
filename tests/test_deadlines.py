"""/deadlines, the calendar feeds (RFC 5545, parsed with icalendar) and feed keys."""

import datetime as dt
import hashlib

import pytest
from icalendar import Calendar

from registry.lifecycle import add_years
from registry.models import Change, Principal

FIELDS = {
    "evaluation": "next_evaluation_on",
    "report": "next_report_due_on",
    "accreditation_end": "valid_until",
}


@pytest.fixture
def today(app):
    from registry.clock import today

    with app.app_context():
        return today()


@pytest.fixture
def setup(api, admin, org_factory, carrier_factory, accredit, make_token, today):
    """Org A's studio ends its term in 20 days; org B's county studio is assessed yearly."""
    a, b = org_factory(), org_factory()
    ending = carrier_factory(host_organization_id=a["id"], level="provincial")
    yearly = carrier_factory(host_organization_id=b["id"], level="county")
    private = carrier_factory(host_organization_id=b["id"], level="county")  # never accredited
    accredit(ending["id"], add_years(today, -3) + dt.timedelta(days=20))
    accredit(yearly["id"], today - dt.timedelta(days=300))
    read = lambda c: api.get(f"/api/v1/carriers/{c['id']}", token=admin).get_json()  # noqa: E731
    return {
        "a": a,
        "b": b,
        "ending": read(ending),
        "yearly": read(yearly),
        "private": private,
        "operator_a": make_token("operator", [a["id"]]),
        "operator_b": make_token("operator", [b["id"]]),
    }


def expected(carriers, today, within, include_overdue=False):
    items = []
    for carrier in carriers:
        for kind, field in FIELDS.items():
            due = carrier[field] and dt.date.fromisoformat(carrier[field])
            if due and due <= today + dt.timedelta(days=within):
                if include_overdue or due >= today:
                    items.append((due.isoformat(), kind, carrier["id"]))
    order = list(FIELDS)
    return sorted(items, key=lambda item: (item[0], order.index(item[1]), item[2]))


def test_deadlines_within_90_days_sorted_by_date(api, admin, setup, today):
    response = api.get("/api/v1/deadlines?within=90", token=admin)
    assert response.status_code == 200
    items = response.get_json()
    got = [(d["due_on"], d["kind"], d["carrier_id"]) for d in items]
    assert got == expected([setup["ending"], setup["yearly"]], today, 90)
    assert response.headers["X-Total-Count"] == str(len(items))
    in_20 = (today + dt.timedelta(days=20)).isoformat()
    assert (in_20, "evaluation", setup["ending"]["id"]) in got
    assert (in_20, "accreditation_end", setup["ending"]["id"]) in got
    first = items[0]
    assert first["days_left"] == 20 and first["warn_days"] == [90, 30, 7]
    assert first["carrier"]["name"] == setup["ending"]["name"] and first["label"]


def test_deadlines_window_overdue_and_kind(api, admin, setup, today):
    carriers = [setup["ending"], setup["yearly"]]
    wide = api.get("/api/v1/deadlines?within=1000&page_size=100", token=admin).get_json()
    assert len(wide) == len(expected(carriers, today, 1000))
    overdue = api.get(
        "/api/v1/deadlines?within=1000&include_overdue=true&page_size=100", token=admin
    ).get_json()
    assert len(overdue) == len(expected(carriers, today, 1000, include_overdue=True))
    assert any(d["days_left"] < 0 and d["kind"] == "report" for d in overdue)
    reports = api.get("/api/v1/deadlines?within=1000&kind=report", token=admin).get_json()
    assert {d["kind"] for d in reports} == {"report"}
    assert all(d["report_year"] for d in reports)


def test_deadlines_are_scoped_to_the_caller(api, setup):
    mine = api.get("/api/v1/deadlines?within=1000", token=setup["operator_a"]).get_json()
    assert {d["carrier_id"] for d in mine} == {setup["ending"]["id"]}
    assert api.get("/api/v1/deadlines").status_code == 401


@pytest.mark.parametrize("query", ["?within=-1", "?within=99999", "?within=x", "?kind=lunch"])
def test_bad_deadline_parameters_are_422(api, admin, query):
    assert api.get(f"/api/v1/deadlines{query}", token=admin).status_code == 422


def parse(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/calendar"
    return Calendar.from_ical(response.get_data())


def test_calendar_parses_with_all_day_events_and_reminders(api, admin, setup, today):
    calendar = parse(api.get("/api/v1/calendar.ics", token=admin))
    events = calendar.walk("VEVENT")
    carriers = [setup["ending"], setup["yearly"]]
    assert len(events) == len(expected(carriers, today, 365, include_overdue=True))
    for event in events:
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert type(start) is dt.date and end == start + dt.timedelta(days=1)
        triggers = sorted(alarm.decoded("TRIGGER") for alarm in event.walk("VALARM"))
        assert triggers == [dt.timedelta(days=-90), dt.timedelta(days=-30), dt.timedelta(days=-7)]
        assert all(alarm["ACTION"] == "DISPLAY" for alarm in event.walk("VALARM"))
    summaries = [str(event["SUMMARY"]) for event in events]
    assert any(setup["ending"]["name"] in summary for summary in summaries)


def test_calendar_uids_are_stable_across_fetches(api, admin, setup):
    first = api.get("/api/v1/calendar.ics", token=admin)
    second = api.get("/api/v1/calendar.ics", token=admin)
    uids = [str(event["UID"]) for event in parse(first).walk("VEVENT")]
    assert uids == [str(event["UID"]) for event in parse(second).walk("VEVENT")]
    assert len(set(uids)) == len(uids)
    assert first.get_data() == second.get_data()


def test_calendar_is_scoped_and_needs_a_reader(api, setup):
    mine = parse(api.get("/api/v1/calendar.ics", token=setup["operator_b"]))
    ids = {str(event["UID"]).split("-")[1] for event in mine.walk("VEVENT")}
    assert ids == {str(setup["yearly"]["id"])}
    assert api.get("/api/v1/calendar.ics").status_code == 401


def test_per_carrier_calendar(api, admin, setup):
    carrier = setup["ending"]
    calendar = parse(api.get(f"/api/v1/carriers/{carrier['id']}/calendar.ics", token=admin))
    assert {str(e["UID"]).split("-")[1] for e in calendar.walk("VEVENT")} == {str(carrier["id"])}
    own = api.get(f"/api/v1/carriers/{carrier['id']}/calendar.ics", token=setup["operator_a"])
    assert own.status_code == 200
    # Operator B sees A's accredited carrier in the public directory, not its deadlines.
    public = api.get(f"/api/v1/carriers/{carrier['id']}/calendar.ics", token=setup["operator_b"])
    assert public.status_code == 403
    private = f"/api/v1/carriers/{setup['private']['id']}/calendar.ics"
    assert api.get(private, token=setup["operator_a"]).status_code == 404
    assert api.get("/api/v1/carriers/999999/calendar.ics", token=admin).status_code == 404


def test_feed_key_reads_the_calendar_without_a_header(api, setup, in_db):
    token = setup["operator_a"]
    assert api.get("/api/v1/me/feed-key", token=token).get_json() == {"active": False}
    response = api.post("/api/v1/me/feed-key", token=token)
    assert response.status_code == 201
    body = response.get_json()
    key = body["feed_key"]
    assert body["calendar_url"].endswith(f"/api/v1/calendar.ics?key={key}")
    with in_db():
        stored = Principal.get(Principal.feed_key_hash.is_null(False))
        assert stored.feed_key_hash == hashlib.sha256(key.encode()).hexdigest()
        change = Change.select().where(Change.object_type == "principal").get()
        assert key not in str(change.after) and stored.feed_key_hash not in str(change.after)

    by_key = parse(api.get(f"/api/v1/calendar.ics?key={key}"))
    by_token = parse(api.get("/api/v1/calendar.ics", token=token))
    assert [e["UID"] for e in by_key.walk("VEVENT")] == [e["UID"] for e in by_token.walk("VEVENT")]
    own = f"/api/v1/carriers/{setup['ending']['id']}/calendar.ics?key={key}"
    assert api.get(own).status_code == 200
    # The key reads calendars only.
    assert api.get(f"/api/v1/alerts?key={key}").status_code == 401
    assert api.get(f"/api/v1/calendar.ics?key={key}x").status_code == 401


def test_feed_key_rotation_and_revocation(api, setup):
    token = setup["operator_a"]
    old = api.post("/api/v1/me/feed-key", token=token).get_json()["feed_key"]
    new = api.post("/api/v1/me/feed-key", token=token).get_json()["feed_key"]
    assert api.get(f"/api/v1/calendar.ics?key={old}").status_code == 401
    assert api.get(f"/api/v1/calendar.ics?key={new}").status_code == 200

    assert api.delete("/api/v1/me/feed-key", token=token).status_code == 428
    stale = api.delete("/api/v1/me/feed-key", token=token, headers={"If-Match": '"k1-vnope"'})
    assert stale.status_code == 412
    etag = api.get("/api/v1/me/feed-key", token=token).headers["ETag"]
    response = api.delete("/api/v1/me/feed-key", token=token, headers={"If-Match": etag})
    assert response.status_code == 204
    assert api.get(f"/api/v1/calendar.ics?key={new}").status_code == 401
    assert api.get("/api/v1/me/feed-key", token=token).get_json() == {"active": False}
    again = api.delete("/api/v1/me/feed-key", token=token, headers={"If-Match": "*"})
    assert again.status_code == 404


def test_feed_key_needs_a_token(api):
    assert api.post("/api/v1/me/feed-key").status_code == 401
    assert api.get("/api/v1/me/feed-key").status_code == 401


def test_a_page_of_deadlines_is_the_slice_of_the_whole_list(
    api, admin, org_factory, carrier_factory, accredit, make_token, today
):
    """``/deadlines`` pages in SQL (``deadlines.page``): each page, and ``X-Total-Count``,
    as the slice of the whole sorted list the calendar feed renders (``deadlines.deadlines``)
    — ties of one date broken by kind then carrier, roster deadlines merged in, windows,
    kinds and an operator's scope."""
    own = org_factory()
    days = dt.timedelta(days=1)
    for _ in range(3):  # yearly evaluations all due on one day: ties by carrier
        accredit(carrier_factory(host_organization_id=own["id"])["id"], today - 300 * days)
    overdue = carrier_factory()
    accredit(overdue["id"], today - 400 * days)
    ending = carrier_factory(level="provincial")
    accredit(ending["id"], add_years(today, -3) + 20 * days)
    recruiting = carrier_factory(type="postdoc_workstation", level="provincial")
    accredit(recruiting["id"], add_years(today, -2) + 10 * days)
    staying = carrier_factory(
        type="postdoc_workstation", level="provincial", host_organization_id=own["id"]
    )
    accredit(staying["id"], today - 100 * days)
    body = {
        "role": "postdoc",
        "name": "张三",
        "institution": "宁波大学",
        "topic": "高分子材料",
        "started_on": (add_years(today, -2) + 65 * days).isoformat(),  # 出站 due in 65 days
    }
    response = api.post(f"/api/v1/carriers/{staying['id']}/members", json=body, token=admin)
    assert response.status_code == 201, response.get_json()
    # One day, two kinds: the carrier with the lower id has the kind that sorts later.
    day = (today + 50 * days).isoformat()
    first, second = carrier_factory(level="provincial"), carrier_factory(level="provincial")
    for carrier, field in ((first, "valid_until"), (second, "next_evaluation_on")):
        accredit(carrier["id"], today - 100 * days)
        path = f"/api/v1/carriers/{carrier['id']}"
        etag = api.get(path, token=admin).headers["ETag"]
        edited = api.patch(path, json={field: day}, token=admin, headers={"If-Match": etag})
        assert edited.status_code == 200, edited.get_json()
    tie = [
        f"carrier-{second['id']}-evaluation-{day}@carrier-registry",
        f"carrier-{first['id']}-accreditation_end-{day}@carrier-registry",
    ]
    operator = make_token("operator", [own["id"]])

    def whole(token, query):
        feed = api.get(f"/api/v1/calendar.ics?{query}", token=token)
        return [str(event["UID"]) for event in parse(feed).walk("VEVENT")]

    questions = [
        "include_overdue=false&within=90",
        "include_overdue=true&within=90",
        "include_overdue=true&within=30",
        "include_overdue=false&within=365",
        "include_overdue=false&within=90&kind=evaluation",
        "include_overdue=false&within=90&kind=postdoc_recruitment",
        "include_overdue=false&within=90&kind=postdoc_stay",
    ]
    for token in (admin, operator):
        for query in questions:
            expected = whole(token, query)
            assert expected or token is operator
            for size in (1, 2, 3, 100):
                pages = []
                for number in range(1, len(expected) // size + 2):
                    got = api.get(
                        f"/api/v1/deadlines?{query}&page={number}&page_size={size}", token=token
                    )
                    assert got.status_code == 200, got.get_json()
                    assert got.headers["X-Total-Count"] == str(len(expected)), query
                    pages.append([item["uid"] for item in got.get_json()])
                assert [uid for page in pages for uid in page] == expected, (query, size)
    listed = whole(admin, "include_overdue=false&within=90")
    assert [uid for uid in listed if uid in tie] == tie
    kinds = {uid.split("-")[2] for uid in whole(admin, "include_overdue=true")}
    assert {"evaluation", "accreditation_end", "postdoc_recruitment", "postdoc_stay"} <= kinds
