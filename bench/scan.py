"""Benchmark of the deadline scan: 10,000 and 100,000 carriers, generated straight into the
database, then scanned.

    .venv/bin/python bench/scan.py                      # SQLite files in a temporary folder
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scratch .venv/bin/python bench/scan.py
    .venv/bin/python bench/scan.py --sizes 1000 10000   # other sizes

The PostgreSQL database is WIPED (its public schema dropped): point it at a scratch database.

Carriers get realistic histories: an ``accredited`` milestone (and a failed evaluation for
the rectifying ones, ``expired``/``closed`` milestones for those), annual reports for most
past years, and stored derived dates computed by ``registry.state.dates_of`` exactly as
the application does. Accreditation dates are spread over the last term so that a share of
deadlines falls inside each warning window, and 0.2 % of the accredited carriers have
lapsed (the scan expires them through ``record_milestone``).

Three timings per size: the first scan (opens every alert: the worst day), the same scan
again (nothing to change) and the next day's scan (every open alert moves one day).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures import loader  # noqa: E402
from jobs import scan  # noqa: E402
from registry import clock, create_app, db, lifecycle, schema  # noqa: E402
from registry.db import utcnow  # noqa: E402
from registry.models import (  # noqa: E402
    Alert,
    AnnualReport,
    Carrier,
    EvaluationPolicy,
    Milestone,
    Organization,
    OutboxEvent,
)
from registry.state import dates_of, to_policy  # noqa: E402

CHUNK = 500
#: A generated carrier's overrides (none): what ``registry.state.dates_of`` reads of it.
NO_OVERRIDES = SimpleNamespace(
    valid_until_override=None, next_evaluation_override=None, report_due_override=None
)


def fresh_app(url: str | None, folder: str, size: int):
    """An app on an empty, migrated database holding the default policies."""
    url = url or f"sqlite:///{folder}/bench-{size}.db"
    app = create_app({"DATABASE_URL": url, "SCHEDULER": False, "LOG_LEVEL": "WARNING"})
    with app.app_context(), db.database.connection_context():
        if db.is_postgres():
            db.database.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        schema.upgrade()
        loader.load_policies()
    return app, url


def insert(model, rows: list[dict]) -> None:
    for start in range(0, len(rows), CHUNK):
        model.insert_many(rows[start : start + CHUNK]).execute()


def generate(size: int, today: dt.date, seed: int = 1) -> None:
    """Insert ``size`` carriers with their organisations, milestones and reports."""
    rng = random.Random(seed)
    policies = {(p.type, p.level): to_policy(p) for p in EvaluationPolicy.select()}
    combos = sorted(policies)
    now = utcnow()
    with db.database.atomic():
        insert(
            Organization,
            [
                {"name": f"基准企业{i}", "kind": "enterprise", "created_at": now, "updated_at": now}
                for i in range(max(1, size // 50))
            ],
        )
        org_ids = [org.id for org in Organization.select(Organization.id)]
        carrier_rows, plans = [], []
        for index in range(size):
            carrier_type, level = rng.choice(combos)
            policy = policies[(carrier_type, level)]
            term_days = 365 * (policy.term_years or 1)
            roll = rng.random()
            status = (
                "applying"
                if roll < 0.04
                else "closed"
                if roll < 0.06
                else "expired"
                if roll < 0.08
                else "rectifying"
                if roll < 0.12
                else "accredited"
            )
            plan = {"status": status, "milestones": []}
            row = {
                "name": f"基准载体{index}",
                "type": carrier_type,
                "level": level,
                "initial_level": level,
                "status": "applying",
                "initial_status": "applying",
                "host_organization": rng.choice(org_ids),
                "attributes": {},
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
            if status != "applying":
                if status == "expired" or (status == "accredited" and rng.random() < 0.002):
                    accredited_on = add_days(today, -term_days - rng.randint(1, 20))
                else:
                    accredited_on = add_days(today, -rng.randint(30, term_days - 1))
                plan["milestones"].append(("accredited", accredited_on, None, None))
                state = lifecycle.CarrierState(status="applying", level=level)
                state = apply(state, "accredited", accredited_on, level=level)
                if status == "rectifying":
                    days_since = (today - accredited_on).days
                    failed_on = add_days(today, -rng.randint(1, min(60, days_since - 1)))
                    rectify_by = lifecycle.add_months(failed_on, lifecycle.RECTIFY_MONTHS)
                    plan["milestones"].append(
                        ("mid_term_evaluation", failed_on, "fail", rectify_by)
                    )
                    state = apply(state, "mid_term_evaluation", failed_on, "fail", rectify_by)
                elif status == "expired":
                    on = lifecycle.expiry_date(state.valid_until or add_days(today, -1))
                    plan["milestones"].append(("expired", on, None, None))
                    state = apply(state, "expired", on)
                elif status == "closed":
                    on = add_days(today, -rng.randint(1, 25))
                    plan["milestones"].append(("closed", on, None, None))
                    state = apply(state, "closed", on)
                last_reported = today.year - rng.choices([1, 2, 9], [70, 25, 5])[0]
                plan["reported"] = list(range(accredited_on.year, last_reported + 1))
                dates = dates_of(NO_OVERRIDES, state, policy, set(plan["reported"]), today)
                row.update(
                    status=state.status,
                    accredited_on=state.accredited_on,
                    certificate_no=f"B-{index}",
                    milestone_valid_until=state.valid_until,
                    cycle_start=state.cycle_start,
                    last_evaluation_on=state.last_evaluation_on,
                    rectify_by=state.rectify_by,
                    valid_until=dates.valid_until,
                    next_evaluation_on=dates.next_evaluation_on,
                    next_report_due_on=dates.next_report_due_on,
                    next_report_year=dates.next_report_year,
                )
            carrier_rows.append(row)
            plans.append(plan)
        insert(Carrier, carrier_rows)
        ids = [c.id for c in Carrier.select(Carrier.id).order_by(Carrier.id)]
        milestone_rows, report_rows = [], []
        for carrier_id, plan in zip(ids, plans, strict=True):
            for kind, on, result, rectify_by in plan["milestones"]:
                milestone_rows.append(
                    {
                        "carrier": carrier_id,
                        "kind": kind,
                        "occurred_on": on,
                        "result": result,
                        "rectify_by": rectify_by,
                        "voided": False,
                        "recorded_by": "bench",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            for year in plan.get("reported", []):
                report_rows.append(
                    {
                        "carrier": carrier_id,
                        "year": year,
                        "metrics": {},
                        "status": "accepted",
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                    }
                )
        insert(Milestone, milestone_rows)
        insert(AnnualReport, report_rows)


def add_days(day: dt.date, days: int) -> dt.date:
    return day + dt.timedelta(days=days)


class _Milestone:
    def __init__(self, kind, on, result=None, rectify_by=None, level=None):
        self.kind, self.occurred_on, self.result, self.rectify_by = kind, on, result, rectify_by
        self.level, self.certificate_no, self.valid_until = level, None, None


def apply(state, kind, on, result=None, rectify_by=None, level=None):
    return lifecycle.apply(state, _Milestone(kind, on, result, rectify_by, level))


def timed(label: str, work):
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    counts = result.counts()
    print(
        f"  {label:<22} {seconds:7.2f} s   opened {counts['opened']:>6}  resolved "
        f"{counts['resolved']:>6}  days_left moved {counts['days_left_updated']:>6}  "
        f"expired {counts['expired']:>4}"
    )
    return seconds


def analyze() -> None:
    """Refresh the planner's statistics (PostgreSQL; SQLite plans without them)."""
    if db.is_postgres():
        db.database.execute_sql("ANALYZE")


def bench(size: int, url: str | None, folder: str) -> dict[str, float]:
    app, shown_url = fresh_app(url, folder, size)
    with app.app_context(), db.database.connection_context():
        today = clock.today()
        started = time.perf_counter()
        generate(size, today)
        print(
            f"{size:,} carriers on {shown_url.split('@')[-1]}: generated in "
            f"{time.perf_counter() - started:.1f} s"
        )
        # The scan records what happened, so it never runs for a future day: the first scan
        # is yesterday's and the next day's is today's.
        yesterday = add_days(today, -1)
        analyze()
        times = {"first": timed("first scan", lambda: scan.scan(yesterday))}
        # The first scan filled the alert table at once; refresh the planner's statistics as
        # PostgreSQL's autovacuum would after such a change (without them the next scans plan
        # for an empty table).
        analyze()
        times["again"] = timed("same day again", lambda: scan.scan(yesterday))
        times["next_day"] = timed("next day", lambda: scan.scan(today))
        print(f"  alerts {Alert.select().count():,}, events {OutboxEvent.select().count():,}")
    db.database.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory() as folder:
        results = {size: bench(size, url, folder) for size in args.sizes}
    if len(args.sizes) >= 2:
        small, large = args.sizes[0], args.sizes[-1]
        print(f"\nratio {large:,}/{small:,} (size ratio {large / small:.0f}):")
        for name, seconds in results[large].items():
            print(f"  {name:<10} {seconds / results[small][name]:5.1f}")


if __name__ == "__main__":
    main()
