"""Property-based checks of the lifecycle over HTTP (hypothesis).

Voiding any milestone leaves the carrier exactly as rebuilding it from the remaining ones
would; the state ``as_of`` a date equals a carrier built from the milestones up to it.
Each example builds fresh carriers in the test's database, so examples do not interfere.
"""

import datetime as dt
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import lifecycle
from registry.vocabulary import EVALUATION_RESULTS, LEVELS

CLIENT_KINDS = [kind for kind in lifecycle.ALLOWED_FROM if kind not in lifecycle.SYSTEM_KINDS]
LIFECYCLE_FIELDS = (
    "status",
    "level",
    "accredited_on",
    "certificate_no",
    "valid_until",
    "next_evaluation_on",
    "next_report_due_on",
)
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def histories(draw):
    """A valid history: (initial level, [milestone bodies]) in date order."""
    level = draw(st.sampled_from(LEVELS))
    state = lifecycle.CarrierState(status="applying", level=level)
    day = dt.date(2012, 1, 1) + dt.timedelta(days=draw(st.integers(0, 365)))
    bodies = []
    for _ in range(draw(st.integers(1, 7))):
        options = [kind for kind in CLIENT_KINDS if state.status in lifecycle.ALLOWED_FROM[kind]]
        if not options:
            break
        kind = draw(st.sampled_from(options))
        day += dt.timedelta(days=draw(st.integers(0, 500)))
        body = {"kind": kind, "occurred_on": day.isoformat()}
        if kind == "accredited":
            body["level"] = draw(st.sampled_from([None, *LEVELS]))
            body["certificate_no"] = draw(st.sampled_from([None, f"CERT-{len(bodies)}"]))
            if draw(st.booleans()):
                body["valid_until"] = (
                    day + dt.timedelta(days=draw(st.integers(1, 2000)))
                ).isoformat()
        if kind == "level_changed":
            body["level"] = draw(st.sampled_from([lv for lv in LEVELS if lv != state.level]))
        if kind in lifecycle.EVALUATION_KINDS:
            body["result"] = draw(st.sampled_from(list(EVALUATION_RESULTS)))
        values = {name: None for name in lifecycle.OPTIONAL_FIELDS}
        values |= {**body, "occurred_on": day}
        if body.get("valid_until"):
            values["valid_until"] = dt.date.fromisoformat(body["valid_until"])
        step = SimpleNamespace(**values)
        state = lifecycle.apply(state, step)
        bodies.append({key: value for key, value in body.items() if value is not None})
    return level, bodies


def _carrier(api, admin, carrier_factory, level, bodies):
    carrier = carrier_factory(level=level)
    recorded = []
    for body in bodies:
        response = api.post(f"/api/v1/carriers/{carrier['id']}/milestones", json=body, token=admin)
        if response.status_code != 201:
            return carrier["id"], None
        recorded.append(response.get_json()["milestone"]["id"])
    return carrier["id"], recorded


def lifecycle_of(api, admin, carrier_id, as_of=None):
    query = f"?as_of={as_of}" if as_of else ""
    body = api.get(f"/api/v1/carriers/{carrier_id}{query}", token=admin).get_json()
    return {name: body[name] for name in LIFECYCLE_FIELDS}


@SETTINGS
@given(history=histories(), data=st.data())
def test_voiding_any_milestone_equals_rebuilding_without_it(
    api, admin, carrier_factory, history, data
):
    level, bodies = history
    carrier_id, ids = _carrier(api, admin, carrier_factory, level, bodies)
    assert ids is not None
    index = data.draw(st.integers(0, len(bodies) - 1))
    before = lifecycle_of(api, admin, carrier_id)
    response = api.post(
        f"/api/v1/carriers/{carrier_id}/milestones/{ids[index]}/void",
        json={"reason": "property"},
        token=admin,
    )
    remaining = bodies[:index] + bodies[index + 1 :]
    rebuilt_id, rebuilt = _carrier(api, admin, carrier_factory, level, remaining)
    if response.status_code == 409:
        assert rebuilt is None  # the remaining history does not replay either
        assert lifecycle_of(api, admin, carrier_id) == before
    else:
        assert response.status_code == 200, response.get_json()
        assert rebuilt is not None
        assert lifecycle_of(api, admin, carrier_id) == lifecycle_of(api, admin, rebuilt_id)


@SETTINGS
@given(history=histories(), data=st.data())
def test_as_of_equals_the_history_up_to_that_day(api, admin, carrier_factory, history, data):
    level, bodies = history
    carrier_id, ids = _carrier(api, admin, carrier_factory, level, bodies)
    assert ids is not None
    last = bodies[-1]["occurred_on"]
    assert lifecycle_of(api, admin, carrier_id, as_of=last) == lifecycle_of(api, admin, carrier_id)
    listed = api.get(f"/api/v1/carriers?as_of={last}&page_size=100", token=admin).get_json()
    mine = next(item for item in listed if item["id"] == carrier_id)
    assert {name: mine[name] for name in LIFECYCLE_FIELDS} == lifecycle_of(api, admin, carrier_id)
    # Any earlier day: the same as a carrier holding only the milestones up to it.
    first = dt.date.fromisoformat(bodies[0]["occurred_on"])
    day = first + dt.timedelta(
        days=data.draw(st.integers(0, (dt.date.fromisoformat(last) - first).days))
    )
    prefix = [body for body in bodies if body["occurred_on"] <= day.isoformat()]
    prefix_id, _ = _carrier(api, admin, carrier_factory, level, prefix)
    assert lifecycle_of(api, admin, carrier_id, as_of=day) == lifecycle_of(api, admin, prefix_id)
