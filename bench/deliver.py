"""Benchmark of the webhook delivery job: fan-out and sending throughput.

    .venv/bin/python bench/deliver.py [--events 10000] [--subscriptions 2]
        [--database-url postgresql://postgres@127.0.0.1:5432/registry_bench]

The receiver is requests-mock answering 200 at once and name resolution is a stub answering a
public address, so this measures the service's own overhead per delivery (claim, address
check, sign, record), not the network. The database is emptied first (a fresh SQLite file by
default).
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path

import requests_mock

from registry import audit, create_app, db, schema
from registry.models import Webhook


def public_dns(host, port, *args, **kwargs):
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("93.184.215.14", port))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--subscriptions", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    app = create_app({"DATABASE_URL": url, "SCHEDULER": False, "LOG_LEVEL": "WARNING"})
    with app.app_context(), db.database.connection_context():
        if db.is_postgres():
            db.database.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        schema.upgrade()
        for n in range(args.subscriptions):
            Webhook.create(
                url=f"https://receiver{n}.example.com/hook",
                secret="whsec_" + "A" * 44,
                created_by="bench",
            )
        with db.database.atomic():
            for n in range(args.events):
                audit.emit("carrier.updated", {"carrier": {"id": n, "name": "示例载体"}})

    from jobs.deliver import deliver_pending

    socket.getaddrinfo = public_dns
    with requests_mock.Mocker() as receiver, app.app_context():
        receiver.post(requests_mock.ANY, status_code=200, text="ok")
        started = time.perf_counter()
        fanned = deliver_pending(limit=0)
        fan_out = time.perf_counter() - started
        started = time.perf_counter()
        sent = deliver_pending()
        sending = time.perf_counter() - started
    deliveries = fanned["queued"]
    print(
        f"database: {url.split(':', 1)[0]}, "
        f"{args.events} events x {args.subscriptions} subscriptions"
    )
    print(f"fan-out: {deliveries} deliveries in {fan_out:.2f} s ({deliveries / fan_out:,.0f}/s)")
    print(
        f"sending: {sent['succeeded']} deliveries in {sending:.2f} s "
        f"({sent['succeeded'] / sending:,.0f}/s, "
        f"{1000 * sending / max(sent['sent'], 1):.2f} ms each)"
    )


if __name__ == "__main__":
    main()
