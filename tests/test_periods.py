"""The stored periods (``carrier_period``, issue 10) always equal a fresh replay.

Random sequences of milestone records (back-dated ones included, and ones the lifecycle
refuses) and voids, through the domain functions; after each, every carrier's stored periods
equal the periods replayed from its active milestones, and the state each period gives on
any day equals ``lifecycle.replay`` of the milestones dated by then (the pre-issue-10 way).
The other writers of the initial state (creation, the level edit, a rejected registration)
and the backfill of migration step 12 (``registry rebuild``) are checked the same way.
"""

import datetime as dt

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from registry import carriers, clock, db, lifecycle, milestones, state, timeline
from registry.errors import DomainError
from registry.models import Carrier, CarrierPeriod, Milestone, Organization
from registry.vocabulary import EVALUATION_RESULTS, LEVELS

KINDS = sorted(lifecycle.ALLOWED_FROM)
START = dt.date(2015, 1, 1)
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("record"),
            st.integers(0, 20),
            st.integers(-300, 700),
            st.sampled_from([None, *LEVELS]),
            st.sampled_from([None, *EVALUATION_RESULTS]),
        ),
        st.tuples(st.just("void"), st.integers(0, 20)),
    ),
    min_size=1,
    max_size=12,
)


def stored(carrier_id: int) -> list[dict]:
    query = (
        CarrierPeriod.select()
        .where(CarrierPeriod.carrier == carrier_id)
        .order_by(CarrierPeriod.valid_from)
        .dicts()
    )
    return [{key: row[key] for key in row if key != "id"} for row in query]


def replayed(carrier_id: int) -> list[dict]:
    carrier = Carrier.get_by_id(carrier_id)
    return state.period_rows(carrier, state.active_milestones(carrier_id))


def assert_periods_are_the_replay(carrier_id: int) -> None:
    assert stored(carrier_id) == replayed(carrier_id)
    carrier = Carrier.get_by_id(carrier_id)
    active = state.active_milestones(carrier_id)
    days = {START - dt.timedelta(days=1), clock.today()}
    days |= {m.occurred_on for m in active} | {m.occurred_on - dt.timedelta(days=1) for m in active}
    for day in sorted(days):
        past = timeline.carrier_on(carrier_id, day)
        expected = state.replay_state(carrier, [m for m in active if m.occurred_on <= day])
        begun = carrier.created_at < clock.end_of_day(day) or any(
            m.occurred_on <= day for m in active
        )
        assert (past is not None) == begun, day
        if past is not None:
            assert past.state == expected, day


def _body(carrier: Carrier, choice: int, offset: int, level, result) -> dict:
    """A milestone of a kind the carrier's status allows (mostly), some days after its last
    one (or before it: back-dated), never in the future."""
    allowed = [kind for kind in KINDS if carrier.status in lifecycle.ALLOWED_FROM[kind]] or KINDS
    active = state.active_milestones(carrier.id)
    last = active[-1].occurred_on if active else START
    day = min(max(START, last + dt.timedelta(days=offset)), clock.today())
    kind = allowed[choice % len(allowed)]
    takes = lifecycle.KIND_FIELDS.get(kind, frozenset())
    return {
        "kind": kind,
        "occurred_on": day,
        "level": level if "level" in takes else None,
        "result": (result or "pass") if "result" in takes else None,
    }


@SETTINGS
@given(ops=operations)
def test_stored_periods_equal_a_fresh_replay(app, ops):
    with app.test_request_context(), db.database.connection_context():
        host = Organization.create(name="周期宿主", kind="enterprise")
        carrier = carriers.create_carrier(
            {
                "name": f"周期载体{Carrier.select().count()}",
                "type": "skill_master_studio",
                "level": "county",
                "host_organization_id": host.id,
            }
        )
        assert_periods_are_the_replay(carrier.id)
        for op in ops:
            try:
                if op[0] == "record":
                    carrier = Carrier.get_by_id(carrier.id)
                    milestones.record_milestone(carrier, _body(carrier, *op[1:]), actor="tests")
                else:
                    mine = list(Milestone.select().where(Milestone.carrier == carrier.id))
                    if not mine:
                        continue
                    target = mine[op[1] % len(mine)]
                    milestones.void_milestone(target, "test", actor="tests")
            except (lifecycle.LifecycleError, DomainError):
                event("refused")  # nothing written: the periods are unchanged
            else:
                event(f"{op[0]} applied")
            assert_periods_are_the_replay(carrier.id)


def test_initial_state_writers_rewrite_the_periods(app, api, admin, carrier_factory):
    created = carrier_factory(level="county")
    edited = api.patch(
        f"/api/v1/carriers/{created['id']}",
        json={"level": "municipal"},
        token=admin,
        headers={
            "If-Match": api.get(f"/api/v1/carriers/{created['id']}", token=admin).headers["ETag"]
        },
    )
    assert edited.status_code == 200, edited.get_json()
    with app.app_context(), db.database.connection_context():
        assert [p["level"] for p in stored(created["id"])] == ["municipal"]
        assert_periods_are_the_replay(created["id"])


def test_rebuild_backfills_every_carrier(app, carrier_factory, accredit):
    """What migration step 12 leaves once ``registry init-db`` replays: every carrier's
    periods, those without a history included."""
    plain = carrier_factory()["id"]
    with_history = carrier_factory()["id"]
    accredit(with_history, "2020-03-01", level="municipal")
    with app.app_context(), db.database.connection_context():
        CarrierPeriod.delete().execute()
        milestones.rebuild_all()
        for carrier_id in (plain, with_history):
            assert_periods_are_the_replay(carrier_id)
        # Registered today, accredited in 2020: the history begins with the accreditation.
        assert [(p["valid_from"], p["status"]) for p in stored(with_history)] == [
            (dt.date(2020, 3, 1), "accredited")
        ]


def test_migration_12_creates_the_table_and_init_db_fills_it(app, carrier_factory, accredit):
    """Upgrading a database from before step 12: the step creates ``carrier_period`` and asks
    for the replay, which fills it for every carrier (what ``registry init-db`` runs)."""
    from registry import schema

    plain = carrier_factory()["id"]
    with_history = carrier_factory()["id"]
    accredit(with_history, "2021-06-01", level="provincial")
    with app.app_context(), db.database.connection_context():
        db.database.drop_tables([CarrierPeriod])
        schema.SchemaVersion.delete().where(schema.SchemaVersion.version == 12).execute()
        applied = schema.upgrade()
        assert applied == [12] and schema.needs_rebuild(applied)
        assert CarrierPeriod.select().count() == 0
        milestones.rebuild_all()
        for carrier_id in (plain, with_history):
            assert_periods_are_the_replay(carrier_id)
