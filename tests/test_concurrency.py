"""Concurrent If-Match writers against a real server (issue 9, "must show").

`registry run` on SQLite, or gunicorn (2 workers × 4 threads) on PostgreSQL when
``REGISTRY_TEST_DATABASE_URL`` is set: 8 clients × 50 PATCHes with If-Match on one carrier
(each re-reads on 412), while a ninth client records milestones. Every 200 is one version
step and one audit record, nothing answers 5xx, and the stored carrier equals the replay of
its milestones.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from servers import free_port

from registry import state
from registry.models import Carrier, Change

PG_URL = os.environ.get("REGISTRY_TEST_DATABASE_URL")
ROOT = Path(__file__).resolve().parent.parent
PORTS = range(18150, 18200)
CLIENTS = 8
PATCHES = 50
MILESTONES = 20


@pytest.fixture
def server(app, database_url, tmp_path):
    """The API served by a separate process on the test's database; stopped by PID."""
    port = free_port(PORTS)
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": database_url,
        "REGISTRY_SCHEDULER": "0",
        "REGISTRY_LOG_LEVEL": "WARNING",
    }
    if PG_URL:
        command = [
            shutil.which("gunicorn", path=str(bin_dir)),
            "--workers=2",
            "--threads=4",
            f"--bind=127.0.0.1:{port}",
            "wsgi:app",
        ]
    else:
        command = [shutil.which("registry", path=str(bin_dir)), "run", "--host=127.0.0.1"]
        command.append(f"--port={port}")
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                pytest.fail(f"server exited: {(tmp_path / 'server.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            pytest.fail("server did not start")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_concurrent_if_match_writers_lose_nothing(
    server, make_token, carrier_factory, accredit, in_db
):
    carrier = carrier_factory()
    accredit(carrier["id"], "2015-01-10")
    url = f"{server}/api/v1/carriers/{carrier['id']}"
    tokens = [make_token("bureau_admin", name=f"client-{n}") for n in range(CLIENTS + 1)]
    first = requests.get(url, headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=30)
    start_version = int(first.headers["ETag"].strip('"').rsplit("-v", 1)[1])

    statuses: Counter = Counter()
    milestone_statuses: Counter = Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {tokens[number]}"
        try:
            etag = session.get(url, timeout=60).headers["ETag"]
            for step in range(PATCHES):
                response = session.patch(
                    url,
                    json={"description": f"client {number} step {step}"},
                    headers={"If-Match": etag},
                    timeout=60,
                )
                with lock:
                    statuses[response.status_code] += 1
                if response.status_code == 200:
                    etag = response.headers["ETag"]
                else:
                    etag = session.get(url, timeout=60).headers["ETag"]
        except Exception as error:  # reported below: a thread must not die silently
            failures.append(repr(error))

    def recorder() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {tokens[CLIENTS]}"
        day = dt.date(2016, 1, 1)
        try:
            for step in range(MILESTONES):
                body = (
                    {"kind": "annual_assessment", "result": "fail"}
                    if step % 2 == 0
                    else {"kind": "rectification_completed"}
                )
                body["occurred_on"] = (day + dt.timedelta(days=30 * step)).isoformat()
                response = session.post(f"{url}/milestones", json=body, timeout=60)
                with lock:
                    milestone_statuses[response.status_code] += 1
                if response.status_code != 201:
                    failures.append(f"milestone {step}: {response.status_code} {response.text}")
        except Exception as error:
            failures.append(repr(error))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    threads.append(threading.Thread(target=recorder))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(thread.is_alive() for thread in threads), "clients did not finish"
    print(f"PATCH answers {dict(statuses)}, milestones {dict(milestone_statuses)}")
    assert not failures, failures[:5]
    assert set(statuses) <= {200, 412}, statuses
    assert sum(statuses.values()) == CLIENTS * PATCHES
    assert milestone_statuses == {201: MILESTONES}

    with in_db():
        stored = Carrier.get_by_id(carrier["id"])
        of_carrier = (Change.object_type == "carrier") & (Change.object_id == carrier["id"])
        updates = Change.select().where(of_carrier & (Change.action == "update")).count()
        recorded = Change.select().where(of_carrier & (Change.action == "milestone")).count()
        replayed = Carrier.get_by_id(carrier["id"])
        state.set_state(replayed, state.replay_state(replayed, state.active_milestones(stored.id)))
    assert stored.version - start_version == statuses[200] + MILESTONES
    assert updates == statuses[200]
    assert recorded == MILESTONES + 1  # and the accreditation before the clients started
    assert stored.__data__ == replayed.__data__
    assert stored.status == "accredited"  # the last milestone completed the rectification


def test_concurrent_writers_keep_the_carrier_counts(server, make_token, org_factory):
    """Four clients create, move (town and level) and delete carriers of one group at once
    while a fifth reads the stats: the counts the stats read (kept by triggers, migration
    16) end equal to the carriers (and the teardown compares them group by group)."""
    tokens = [make_token("bureau_admin", name=f"counter-{n}") for n in range(5)]
    hosts = [org_factory()["id"] for _ in range(4)]
    carriers_url = f"{server}/api/v1/carriers"
    stats_url = f"{server}/api/v1/stats/carriers?group_by=type,level,town&type=maker_space"
    failures: list[str] = []
    done = threading.Event()
    reads: Counter = Counter()

    def client(number: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {tokens[number]}"
        try:
            for step in range(8):
                body = {
                    "name": f"并发载体{number}-{step}",
                    "type": "maker_space",
                    "level": "county",
                    "town": "周巷镇",
                    "host_organization_id": hosts[number],
                }
                created = session.post(carriers_url, json=body, timeout=60)
                if created.status_code != 201:
                    failures.append(f"create: {created.status_code} {created.text}")
                    continue
                url = f"{carriers_url}/{created.json()['id']}"
                moved = session.patch(
                    url,
                    json={"town": "古塘街道", "level": "municipal"},
                    headers={"If-Match": created.headers["ETag"]},
                    timeout=60,
                )
                if moved.status_code != 200:
                    failures.append(f"move: {moved.status_code} {moved.text}")
                    continue
                if step % 2:
                    gone = session.delete(url, headers={"If-Match": moved.headers["ETag"]})
                    if gone.status_code != 204:
                        failures.append(f"delete: {gone.status_code} {gone.text}")
        except Exception as error:  # reported below: a thread must not die silently
            failures.append(repr(error))

    def reader() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {tokens[4]}"
        try:
            while not done.is_set():
                reads[session.get(stats_url, timeout=60).status_code] += 1
        except Exception as error:
            failures.append(repr(error))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    done.set()
    watcher.join(timeout=60)
    assert not any(thread.is_alive() for thread in [*threads, watcher]), "clients did not finish"
    assert not failures, failures[:5]
    assert set(reads) == {200}, reads
    final = requests.get(stats_url, headers={"Authorization": f"Bearer {tokens[4]}"}, timeout=30)
    assert final.json() == {
        "total": 16,
        "groups": [{"type": "maker_space", "level": "municipal", "town": "古塘街道", "count": 16}],
    }
