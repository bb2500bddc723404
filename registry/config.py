"""The one list of settings.

Every setting is read from an environment variable named ``REGISTRY_<NAME>``; the README's
configuration table is generated from (and checked against) :data:`SETTINGS`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One configuration value: its name (without the prefix), default, type and help."""

    name: str
    default: Any
    help: str
    type: type = str

    @property
    def env(self) -> str:
        return f"REGISTRY_{self.name}"

    def parse(self, raw: str) -> Any:
        if self.type is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if self.type is int:
            return int(raw)
        return raw


SETTINGS: list[Setting] = [
    Setting(
        "DATABASE_URL",
        "sqlite:///instance/registry.db",
        "Database URL: `sqlite:///path/to/file.db` or `postgresql://user@host:5432/name`.",
    ),
    Setting(
        "DB_BUSY_TIMEOUT_MS",
        10_000,
        "SQLite: how long a write waits for the database's write lock, in milliseconds, "
        "before it gives up with 503 and `Retry-After`.",
        int,
    ),
    Setting(
        "DB_POOL_SIZE",
        8,
        "Database connections each process keeps for reuse (and opens at most). A gunicorn "
        "sync worker uses one; on PostgreSQL keep processes × this under `max_connections`.",
        int,
    ),
    Setting(
        "DB_POOL_RECYCLE_SECONDS",
        300,
        "A pooled connection older than this is closed instead of reused.",
        int,
    ),
    Setting(
        "DB_PREPARE",
        True,
        "On PostgreSQL, run the statements every request makes as prepared statements of "
        "each connection (one generic plan per connection; the list's statements, whose "
        "plan depends on the filters, are planned per call as plain SQL); set 0 behind a "
        "pooler that does not keep a session per client (PgBouncer in transaction mode).",
        bool,
    ),
    Setting(
        "TIMEZONE",
        "Asia/Shanghai",
        "Time zone that defines 'today' and in which timestamps are shown.",
    ),
    Setting(
        "LEVEL_LABEL_MUNICIPAL",
        "宁波市级",
        "Display label of the `municipal` level (the prefecture-level city).",
    ),
    Setting(
        "LEVEL_LABEL_COUNTY",
        "慈溪市级",
        "Display label of the `county` level (the county-level city).",
    ),
    Setting(
        "TOWNS_FILE",
        "",
        "JSON file listing the towns and subdistricts accepted in `town` fields; "
        "empty means the reference city's list in `fixtures/towns.json`.",
    ),
    Setting(
        "MAX_BODY_BYTES",
        1_048_576,
        "Largest accepted request body in bytes; larger bodies get 413.",
        int,
    ),
    Setting(
        "IMPORT_MAX_BYTES",
        10_485_760,
        "Largest spreadsheet `POST /carriers/import` and `registry import` accept, in bytes "
        "(413 beyond; other request bodies keep `REGISTRY_MAX_BODY_BYTES`).",
        int,
    ),
    Setting(
        "IMPORT_MAX_ROWS",
        10_000,
        "Most carrier rows one import takes (a sheet with more is refused whole, naming the "
        "first row over the limit).",
        int,
    ),
    Setting("LOG_LEVEL", "INFO", "Python logging level of the service."),
    Setting(
        "REQUEST_LOG",
        True,
        "Log one JSON line per request to standard error: method, path (without the query), "
        "status, duration_ms, request_id, principal_id; never a token or key.",
        bool,
    ),
    Setting("HOST", "127.0.0.1", "Address `registry run` listens on."),
    Setting("PORT", 8000, "Port `registry run` listens on.", int),
    Setting(
        "SCHEDULER",
        True,
        "Run the job scheduler inside `registry run` (set 0 when a separate "
        "`registry scheduler` process runs the jobs).",
        bool,
    ),
    Setting(
        "SCAN_CRON",
        "0 8 * * *",
        "Cron expression (five fields, in `REGISTRY_TIMEZONE`) of the daily deadline scan.",
    ),
    Setting(
        "DIGEST_CRON",
        "0 9 * * mon",
        "Cron expression (five fields, in `REGISTRY_TIMEZONE`) of the weekly alert digest.",
    ),
    Setting("DELIVER_SECONDS", 30, "Interval in seconds of the webhook delivery job.", int),
    Setting(
        "MISFIRE_GRACE_SECONDS",
        86_400,
        "How late a missed job run may still start: a run missed while no scheduler was "
        "running runs once when one starts, if its latest missed time is within this.",
        int,
    ),
    Setting(
        "SCHEDULER_LEASE_SECONDS",
        60,
        "Lease of the scheduler lock on SQLite, renewed every third of it; a dead holder "
        "loses it after this (on PostgreSQL an advisory lock dies with its process).",
        int,
    ),
    Setting(
        "READY_MAX_SCAN_AGE_HOURS",
        48,
        "`/readyz` turns unready when the last successful scan is older than this; before "
        "the first scan, counted from the creation of the run log (0 disables the check).",
        int,
    ),
    Setting(
        "WEBHOOK_ALLOW_PRIVATE",
        False,
        "Allow webhook targets on loopback, link-local, private and other non-global "
        "addresses (checked at creation and again on the resolved address at delivery).",
        bool,
    ),
    Setting(
        "WEBHOOK_CONNECT_TIMEOUT_SECONDS", 5, "Connect timeout of webhook calls, in seconds.", int
    ),
    Setting("WEBHOOK_TIMEOUT_SECONDS", 10, "Read timeout of webhook calls, in seconds.", int),
    Setting(
        "WEBHOOK_MAX_ATTEMPTS",
        12,
        "Attempts per webhook delivery before it is marked failed (with the default "
        "back-off the retries span about a day).",
        int,
    ),
    Setting(
        "WEBHOOK_RETRY_BASE_SECONDS",
        45,
        "First retry delay of a failed webhook delivery; each next one doubles (±20% jitter).",
        int,
    ),
    Setting(
        "WEBHOOK_DISABLE_AFTER_HOURS",
        72,
        "A subscription whose deliveries have failed without a success for this long is "
        "disabled and its owner alerted.",
        int,
    ),
    Setting(
        "SECRET_KEY",
        "",
        "Key signing the pages' session cookies; empty means a random key made once and kept "
        "in the database (shared by every worker). Changing it signs everyone out.",
    ),
    Setting(
        "PUBLIC_URL",
        "",
        "Address people open the pages at (e.g. `https://registry.example.gov.cn`), used in "
        "the invitation links `registry invite` prints; empty means `http://HOST:PORT`.",
    ),
    Setting(
        "SESSION_HOURS",
        12,
        "How long a page session lasts after its last use, in hours (each page visited renews it).",
        int,
    ),
    Setting(
        "SECURE_COOKIES",
        False,
        "Send the session cookie over HTTPS only (set 1 behind TLS).",
        bool,
    ),
    Setting(
        "INVITE_DAYS",
        3,
        "How many days an invitation link stays valid.",
        int,
    ),
    Setting(
        "SIGN_IN_MAX_FAILURES",
        5,
        "Failed sign-ins of one account within `SIGN_IN_WINDOW_MINUTES` after which its "
        "sign-in is refused until the window has passed.",
        int,
    ),
    Setting(
        "SIGN_IN_MAX_ADDRESS_FAILURES",
        20,
        "Failed sign-ins from one client address within `SIGN_IN_WINDOW_MINUTES` after which "
        "sign-ins from it are refused until the window has passed.",
        int,
    ),
    Setting(
        "SIGN_IN_WINDOW_MINUTES",
        15,
        "The window in which failed sign-ins are counted, in minutes.",
        int,
    ),
]


def default(name: str) -> Any:
    """The default of the setting ``name`` (for code that runs outside an app)."""
    return next(setting.default for setting in SETTINGS if setting.name == name)


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the settings from the environment, defaults filled in, ``overrides`` applied."""
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = os.environ.get(setting.env)
        config[setting.name] = setting.parse(raw) if raw not in (None, "") else setting.default
    config.update(overrides or {})
    return config


def markdown_table() -> str:
    """The README's configuration table (``python -m registry.config``)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        default = setting.default
        if setting.type is bool:
            default = "1" if default else "0"
        lines.append(f"| `{setting.env}` | `{default}` | {setting.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
