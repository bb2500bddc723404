"""Time the spreadsheets: a 10,000-row carrier import (dry run, then real) and a
100,000-row carrier export (XLSX and CSV), with peak memory.

    .venv/bin/python bench/spreadsheets.py [--import-rows 10000] [--export-rows 100000]
                                           [--database-url postgresql://…]

A fresh database (SQLite file, or the given PostgreSQL database emptied first) is filled
in bulk with ``--export-rows`` carriers, and ``GET /carriers/export`` is read to the end as
CSV and as XLSX. Then a generated CSV of ``--import-rows`` new carriers spread over 200 new
host organisations goes through ``POST /carriers/import`` as the bureau admin: dry run,
real, and the same file again (nothing to change).

Each step prints its wall time, the process's CPU time (user + system, from
``getrusage``: on a machine shared with other work the wall time grows with the load, the
CPU time much less) and the load average when it ended. Memory is the process's maximum
resident set size (``ru_maxrss``, which only grows), printed after each step: the exports
run first, on the bulk-filled registry, so their figure is theirs; the imports follow (into
that registry of ``--export-rows`` carriers).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py is named like the standard library's ``http``: keep this folder off the import
# path (``python bench/spreadsheets.py`` puts it first) before anything imports ``http``.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from fixtures import loader  # noqa: E402
from registry import create_app, db, schema, tokens  # noqa: E402
from registry.models import Carrier, Organization  # noqa: E402
from registry.uscc import check_character  # noqa: E402
from registry.vocabulary import CARRIER_TYPES, LEVELS  # noqa: E402


def uscc_for(index: int) -> str:
    first17 = f"91330282{index:08d}0"[:17]
    return first17 + check_character(first17)


def import_sheet(rows: int) -> bytes:
    """A CSV of ``rows`` new carriers (labels, as an export writes them)."""
    types = list(CARRIER_TYPES.values())
    levels = ["国家级", "省级", "宁波市级", "慈溪市级"]
    lines = ["名称,类型,级别,依托单位,统一社会信用代码,所在镇街,标签,成立日期,简介"]
    for index in range(rows):
        host = index % 200
        lines.append(
            f"基准载体{index:06d},{types[index % len(types)]},{levels[index % 4]},"
            f"基准单位{host:03d},{uscc_for(host)},浒山街道,基准；批量,2015-03-01,批量导入"
        )
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def fill(total: int) -> None:
    """Bulk-insert carriers until the registry holds ``total`` (1,000 rows at a time)."""
    have = Carrier.select().count()
    org = Organization.create(name="基准批量单位", kind="enterprise")
    now = db.utcnow()
    types = list(CARRIER_TYPES)

    def row(index: int) -> dict:
        return {
            "name": f"批量载体{index:06d}",
            "type": types[index % len(types)],
            "level": LEVELS[index % 4],
            "status": "accredited",
            "host_organization": org.id,
            "initial_status": "applying",
            "initial_level": LEVELS[index % 4],
            "accredited_on": dt.date(2018, 1, 1),
            "valid_until": dt.date(2027, 1, 1),
            "town": "浒山街道",
            "description": "批量",
            "attributes": {},
            "created_at": now,
            "updated_at": now,
        }

    with db.database.atomic():
        for start in range(have, total, 1000):
            Carrier.insert_many([row(i) for i in range(start, min(total, start + 1000))]).execute()


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measured(label: str, run) -> None:
    """Time ``run()`` (wall and CPU); then the process's maximum resident set size so far
    and the one-minute load average."""
    started, cpu = time.perf_counter(), cpu_seconds()
    result = run()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    print(
        f"{label:<38} {seconds:6.1f} s wall {cpu:6.1f} s CPU   max RSS so far "
        f"{max_rss_mb():4.0f} MB   load {os.getloadavg()[0]:4.1f}   {result}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--import-rows", type=int, default=10_000)
    parser.add_argument("--export-rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-sheets-"))
    url = options.database_url or f"sqlite:///{workdir / 'registry.db'}"
    app = create_app({"DATABASE_URL": url, "SCHEDULER": False, "LOG_LEVEL": "WARNING"})
    with app.app_context(), db.database.connection_context():
        if options.database_url:
            db.database.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        schema.upgrade()
        loader.load_policies()
        _, token = tokens.create_principal_token(
            name="bench", role="bureau_admin", organization_ids=[], actor="bench"
        )
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    sheet = import_sheet(options.import_rows)
    print(f"Database: {url.split('@')[-1]}; import file {len(sheet) / 2**20:.1f} MB")

    with app.app_context(), db.database.connection_context():
        fill(options.export_rows)

    def export_run(fmt: str):
        def run():
            response = client.get(f"/api/v1/carriers/export?format={fmt}", headers=auth)
            size = sum(len(chunk) for chunk in response.response)
            response.close()
            return f"{size / 2**20:.1f} MB"

        return run

    print(f"max RSS before the export {max_rss_mb():.0f} MB")
    for fmt in ("csv", "xlsx"):
        measured(f"export {options.export_rows:,} rows, {fmt}", export_run(fmt))

    def import_run(dry_run: bool):
        def run():
            response = client.post(
                f"/api/v1/carriers/import?dry_run={'true' if dry_run else 'false'}",
                headers=auth,
                data={"file": (io.BytesIO(sheet), "bench.csv")},
                content_type="multipart/form-data",
            )
            body = response.get_json()
            assert response.status_code == 200, body
            return f"{body['created']} created, {len(body['errors'])} errors"

        return run

    measured(f"import {options.import_rows:,} rows, dry run", import_run(True))
    measured(f"import {options.import_rows:,} rows, real", import_run(False))
    measured(f"import {options.import_rows:,} rows again (no-op)", import_run(False))


if __name__ == "__main__":
    main()
