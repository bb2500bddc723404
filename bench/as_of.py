"""Time the point-in-time list and a policy edit on a generated registry.

    .venv/bin/python bench/as_of.py 10000 100000   [--database-url postgresql://…]

Each size gets a fresh SQLite file (or the given PostgreSQL database, emptied first) holding
that many skill-master studios with three milestones each (application, accreditation, and a
level change or a yearly assessment), inserted in bulk. It then times
the backfill of the stored periods (what ``registry init-db`` does after migration 12), then
p50 and p99 of 30 of each of the point-in-time requests of ``REQUESTS`` (a join with the
stored periods; the last one sorts by a derived date, computed in Python for every
candidate), and ``PATCH /evaluation-policies/skill_master_studio/county`` (recomputing the
stored dates of a quarter of the carriers).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from pathlib import Path

from fixtures import loader
from registry import create_app, db, schema, state, tokens
from registry.models import Carrier, Milestone, Organization
from registry.vocabulary import LEVELS


def populate(size: int) -> None:
    rng = random.Random(size)
    org = Organization.create(name="基准企业", kind="enterprise")
    now = db.utcnow()
    carriers, milestones = [], []
    for index in range(1, size + 1):
        level = rng.choice(LEVELS)
        carriers.append(
            {
                "id": index,
                "name": f"基准工作室{index:06d}",
                "type": "skill_master_studio",
                "level": level,
                "status": "accredited",
                "host_organization": org.id,
                "initial_status": "applying",
                "initial_level": level,
                "accredited_on": dt.date(2015, 1, 1),
                "cycle_start": dt.date(2015, 1, 1),
                "attributes": {},
                "created_at": now,
                "updated_at": now,
            }
        )
        start = dt.date(2012, 1, 1) + dt.timedelta(days=rng.randrange(2000))
        milestones += [
            {"carrier": index, "kind": "application_submitted", "occurred_on": start},
            {"carrier": index, "kind": "accredited", "occurred_on": start + dt.timedelta(days=90)},
        ]
        later = start + dt.timedelta(days=500)
        if level != "national" and rng.random() < 0.5:
            higher = LEVELS[LEVELS.index(level) - 1]
            milestones.append(
                {"carrier": index, "kind": "level_changed", "occurred_on": later, "level": higher}
            )
        else:
            milestones.append(
                {
                    "carrier": index,
                    "kind": "annual_assessment",
                    "occurred_on": later,
                    "result": "pass",
                }
            )
    with db.database.atomic():
        for batch in range(0, len(carriers), 1000):
            Carrier.insert_many(carriers[batch : batch + 1000]).execute()
        for batch in range(0, len(milestones), 1000):
            rows = [
                {**row, "created_at": now, "updated_at": now}
                for row in milestones[batch : batch + 1000]
            ]
            Milestone.insert_many(rows).execute()


def run(size: int, url: str) -> None:
    app = create_app({"DATABASE_URL": url, "SCHEDULER": False, "LOG_LEVEL": "WARNING"})
    with app.app_context(), db.database.connection_context():
        if url.startswith("postgres"):
            db.database.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        schema.upgrade()
        loader.load_policies()
        populate(size)
        started = time.perf_counter()
        with db.database.atomic():
            state.store_all_periods()
        backfill = time.perf_counter() - started
        _, token = tokens.create_principal_token(
            name="bench", role="bureau_admin", organization_ids=[], actor="bench"
        )
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    print(f"{size:>7} carriers: periods backfilled in {backfill:.2f} s")
    for label, path, auth in REQUESTS:
        timings, total = [], None
        for _ in range(REPEAT):
            started = time.perf_counter()
            response = client.get(path, headers=headers if auth else {})
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200, response.get_json()
            total = response.headers.get("X-Total-Count") or response.get_json().get("total")
        timings.sort()
        p50, p99 = (
            timings[len(timings) // 2],
            timings[min(len(timings) - 1, len(timings) * 99 // 100)],
        )
        print(f"  {label:<44} p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  ({total})")
    path = "/api/v1/evaluation-policies/skill_master_studio/county"
    etag = client.get(path, headers=headers).headers["ETag"]
    started = time.perf_counter()
    edit = client.patch(path, json={"term_years": 4}, headers={**headers, "If-Match": etag})
    edited = time.perf_counter() - started
    assert edit.status_code == 200, edit.get_json()
    print(f"  policy edit {edited:6.2f} s")


#: Repetitions of each request (p50 and p99 of these).
REPEAT = 30
DAY = "as_of=2016-12-31"
#: ``(label, path, with the bureau's token)``.
REQUESTS = [
    (
        "list, provincial, -accredited_on (bureau)",
        f"/api/v1/carriers?{DAY}&level=provincial&sort=-accredited_on",
        True,
    ),
    ("list, page 100 by name (bureau)", f"/api/v1/carriers?{DAY}&page=100", True),
    ("list, anonymous", f"/api/v1/carriers?{DAY}&level_min=provincial", False),
    (
        "stats by level, status (bureau)",
        f"/api/v1/stats/carriers?{DAY}&group_by=level,status",
        True,
    ),
    (
        "list by -valid_until (derived date: Python)",
        f"/api/v1/carriers?{DAY}&sort=-valid_until",
        True,
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as work:
            run(size, args.database_url or f"sqlite:///{Path(work) / 'bench.db'}")


if __name__ == "__main__":
    main()
