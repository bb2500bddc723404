"""Failure drills (issue 10): the database goes away and comes back, SQLite storage that
refuses writes, a scan that dies half-way, and scans run out of calendar order.

Fast (no sleeps, a handful of carriers); each drill on the engines where it means something.
"""

import datetime as dt
import os
import sqlite3
from pathlib import Path

import psycopg2
import pytest

from jobs import scan
from registry import alerts, db
from registry.models import Alert, Carrier

PG_URL = os.environ.get("REGISTRY_TEST_DATABASE_URL")

D = dt.date.fromisoformat
PROBLEM = "application/problem+json"


def assert_unavailable(response, reason_text: str) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    assert reason_text in response.get_json()["detail"]
    assert int(response.headers["Retry-After"]) > 0


# --- the database goes away in the middle of requests, then comes back ----------------------


@pytest.fixture
def database_away(app, database_url):
    """``database_away(gone: bool)``: take the test database away (SQLite: its folder moved;
    PostgreSQL: connections refused and every backend of it terminated) or bring it back."""
    if PG_URL:
        name = PG_URL.rsplit("/", 1)[-1]
        admin_url = PG_URL.rsplit("/", 1)[0] + "/postgres"

        def switch(gone: bool) -> None:
            connection = psycopg2.connect(admin_url)
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {not gone}')
                if gone:
                    cursor.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (name,),
                    )
            connection.close()

        yield switch
        switch(False)
        return
    folder = Path(database_url[len("sqlite:///") :]).parent
    moved = folder.with_name(folder.name + "-away")

    def switch(gone: bool) -> None:
        if gone and folder.exists():
            folder.rename(moved)
            # A pooled connection keeps its open file: close them, as a restart of the
            # database server closes PostgreSQL's.
            db.close_all()
        elif not gone and moved.exists():
            moved.rename(folder)

    yield switch
    switch(False)


def test_the_database_goes_away_mid_requests_and_comes_back(api, admin, database_away):
    assert api.get("/api/v1/carriers", token=admin).status_code == 200
    database_away(True)
    for path in ("/api/v1/carriers", "/api/v1/stats/carriers?group_by=type"):
        assert_unavailable(api.get(path, token=admin), "unavailable")
    body = {"name": "断线", "kind": "enterprise"}
    assert_unavailable(api.post("/api/v1/organizations", json=body, token=admin), "unavailable")
    database_away(False)
    assert api.get("/api/v1/carriers", token=admin).status_code == 200  # the next request
    assert api.post("/api/v1/organizations", json=body, token=admin).status_code == 201


@pytest.mark.skipif(not PG_URL, reason="the pool's liveness check is PostgreSQL's")
def test_a_connection_the_server_closed_is_not_handed_out_and_a_live_one_costs_no_ping(
    api, admin, monkeypatch
):
    """``db.PooledPostgres``: an idle pooled connection is handed out without ``SELECT 1``
    while its socket has nothing to read; once the server closed it (here
    ``pg_terminate_backend``: a restart or a crash closes it alike), the pool sees it, drops
    it and connects afresh: the next request succeeds."""
    pings = []
    adapter = db.database.obj._adapter
    check = adapter.is_connection_closed
    monkeypatch.setattr(
        adapter, "is_connection_closed", lambda conn: pings.append(1) or check(conn)
    )
    assert api.get("/api/v1/carriers", token=admin).status_code == 200
    assert api.get("/api/v1/carriers", token=admin).status_code == 200
    assert pings == []  # the pooled connection was live and quiet: no round trip
    idle = list(db.database.obj._connections)
    assert idle, "a connection was given back to the pool"
    pids = [conn.info.backend_pid for _, _, conn in idle]
    killer = psycopg2.connect(PG_URL)
    killer.autocommit = True
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s) AS pid", (pids,))
    killer.close()
    deadline = dt.datetime.now() + dt.timedelta(seconds=5)
    while not all(select_readable(conn) for _, _, conn in idle):
        assert dt.datetime.now() < deadline, "the server's closing never reached the socket"
    assert api.get("/api/v1/carriers", token=admin).status_code == 200
    assert pings  # the closed one was checked, found closed and replaced
    assert all(conn.closed for _, _, conn in idle)


def select_readable(conn) -> bool:
    import select

    return bool(select.select([conn], [], [], 0.05)[0])


# --- SQLite storage that refuses writes ---------------------------------------------------

sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite storage drills")


def integrity(database_url: str) -> str:
    connection = sqlite3.connect(database_url[len("sqlite:///") :])
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


@sqlite_only
def test_a_full_disk_is_a_clear_503_and_no_corruption(api, admin, app, database_url, rows):
    """``PRAGMA max_page_count`` at the file's size: the next page needed is "disk full"."""
    assert (
        api.post(
            "/api/v1/organizations", json={"name": "先", "kind": "enterprise"}, token=admin
        ).status_code
        == 201
    )
    with app.app_context(), db.database.connection_context():
        pages = db.database.execute_sql("PRAGMA page_count").fetchone()[0]
        before = Carrier.select().count()
    pragmas = db.database.obj._pragmas
    db.database.obj._pragmas = [*pragmas, ("max_page_count", pages)]
    db.close_all()  # pragmas apply to connections opened from now on
    try:
        big = {"name": "满", "kind": "enterprise", "address": "地" * 150}
        for _ in range(60):  # until a write needs a new page
            response = api.post("/api/v1/organizations", json=big, token=admin)
            if response.status_code != 201:
                break
        assert_unavailable(response, "disk is full")
    finally:
        db.database.obj._pragmas = pragmas
        db.close_all()
    assert integrity(database_url) == "ok"
    with app.app_context(), db.database.connection_context():
        assert Carrier.select().count() == before
    assert api.post("/api/v1/organizations", json=big, token=admin).status_code == 201


@sqlite_only
def test_a_read_only_database_answers_reads_and_refuses_writes_clearly(api, admin, database_url):
    path = database_url[len("sqlite:///") :]
    pragmas = db.database.obj._pragmas
    db.database.obj._pragmas = [*pragmas, ("query_only", 1)]
    db.close_all()  # pragmas apply to connections opened from now on
    os.chmod(path, 0o444)
    try:
        assert api.get("/api/v1/carriers", token=admin).status_code == 200
        response = api.post(
            "/api/v1/organizations", json={"name": "只读", "kind": "enterprise"}, token=admin
        )
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.mimetype == PROBLEM
    finally:
        os.chmod(path, 0o644)
        db.database.obj._pragmas = pragmas
        db.close_all()
    assert integrity(database_url) == "ok"
    assert (
        api.post(
            "/api/v1/organizations", json={"name": "只读", "kind": "enterprise"}, token=admin
        ).status_code
        == 201
    )


# --- the scan ------------------------------------------------------------------------------


def open_alerts(app) -> set:
    with app.app_context(), db.database.connection_context():
        return {
            (a.carrier_id, a.kind, a.due_on, a.days_left)
            for a in Alert.select().where(Alert.status != "resolved")
        }


def wanted_on(app, day: dt.date) -> set:
    """The alert set the rules give on ``day`` (what a complete scan leaves)."""
    with app.app_context(), db.database.connection_context():
        rows = list(Carrier.select(*alerts.CARRIER_COLUMNS).order_by(Carrier.id).namedtuples())
        wanted = alerts.wanted_alerts(rows, day, alerts.load_rules())
    return {(carrier, kind, due, left) for (carrier, kind, due), left in wanted.items()}


@pytest.fixture
def scanned_registry(app, carrier_factory, accredit):
    """Five carriers whose validity ends at different days of 2023 (three-year terms)."""
    for month in range(1, 6):
        accredit(carrier_factory()["id"], f"2020-0{month}-15")
    return app


def run_scan(app, day: dt.date, **kwargs):
    with app.test_request_context(), db.database.connection_context():
        return scan.scan(day, **kwargs)


def test_a_scan_killed_half_way_leaves_whole_batches_and_the_next_run_completes(
    scanned_registry, monkeypatch
):
    """The scan dies in its second batch (a hook stands in for SIGKILL): that batch's
    transaction is rolled back whole, so each carrier shows the alerts of one complete scan
    (no partial set), and the next run completes as an uninterrupted one would."""
    app, day = scanned_registry, D("2022-12-20")
    real, calls = alerts.reconcile, []

    def dies_in_second_batch(*args, **kwargs):
        calls.append(1)
        done = real(*args, **kwargs)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return done

    monkeypatch.setattr(alerts, "reconcile", dies_in_second_batch)
    with pytest.raises(KeyboardInterrupt):
        run_scan(app, day, batch_size=2)
    monkeypatch.setattr(alerts, "reconcile", real)
    wanted = wanted_on(app, day)
    left = open_alerts(app)
    first_batch = {key for key in wanted if key[0] <= 2}
    assert left == first_batch  # batch one committed whole, batch two not at all
    run_scan(app, day, batch_size=2)
    assert open_alerts(app) == wanted


def test_an_earlier_as_of_after_a_later_one_leaves_the_earlier_days_alert_set(
    scanned_registry,
):
    app = scanned_registry
    later, earlier = D("2023-03-20"), D("2022-12-20")
    run_scan(app, later)
    assert open_alerts(app) == wanted_on(app, later)
    run_scan(app, earlier)
    assert open_alerts(app) == wanted_on(app, earlier)
    run_scan(app, later)
    assert open_alerts(app) == wanted_on(app, later)
