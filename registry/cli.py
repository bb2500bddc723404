"""The ``registry`` command, built on Flask's CLI (``flask --app wsgi …`` works the same)."""

from __future__ import annotations

import datetime as dt

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from registry import db
from registry.vocabulary import ROLES


def _create_app():
    from registry import create_app

    return create_app()


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create or upgrade the database schema (idempotent); replay the carriers when a step
    asked for it."""
    from registry import schema

    with db.database.connection_context():
        applied = schema.upgrade()
        version = schema.current_version()
        replayed = _rebuild() if schema.needs_rebuild(applied) else None
    if applied:
        click.echo(
            f"Applied migrations {', '.join(map(str, applied))}; schema at version {version}."
        )
    else:
        click.echo(f"Schema already at version {version}.")
    if replayed is not None:
        click.echo(f"Replayed {replayed} carrier(s) from their milestones.")


@click.command("rebuild")
@with_appcontext
def rebuild_command():
    """Replay every carrier's stored state from its milestones, with today's rules."""
    with db.database.connection_context():
        replayed = _rebuild()
    click.echo(f"Replayed {replayed} carrier(s) from their milestones.")


def _rebuild() -> int:
    from registry import milestones

    return milestones.rebuild_all()


def _as_of(ctx, param, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD.") from error


@click.command("load-fixtures")
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="Also load the demo organisations, carriers, annual reports and targets, then run "
    "the deadline scan for the day so that the demo opens with its alerts.",
)
@click.option(
    "--as-of",
    "as_of",
    callback=_as_of,
    metavar="YYYY-MM-DD",
    help="Date the demo as if loaded on this day (default: today; not after today).",
)
@with_appcontext
def load_fixtures_command(demo: bool, as_of: dt.date | None):
    """Load the default policies and the demo data (idempotent); scan the demo's day."""
    from fixtures import loader
    from registry.clock import today

    day = as_of or today()
    if day > today():
        raise click.BadParameter(f"{day} is after today ({today()}).", param_hint="--as-of")
    with db.database.connection_context():
        policies = loader.load_policies()
        click.echo(f"Policies: {policies} created.")
        if demo:
            counts = loader.load_demo(day)
            click.echo(
                f"Demo: {counts['organizations']} organisations and "
                f"{counts['carriers']} carriers created."
            )
            click.echo(
                f"Demo: {counts['annual_reports']} annual reports and "
                f"{counts['targets']} targets created."
            )
            click.echo(f"Demo: {counts['members']} roster entries created.")
    if demo:
        _run_scan(day)


@click.command("create-token")
@click.option(
    "--role",
    required=True,
    type=click.Choice(ROLES),
)
@click.option(
    "--organization",
    "organization_ids",
    type=int,
    multiple=True,
    help="Organisation the principal acts for (repeatable; operators and partners).",
)
@click.option("--name", required=True, help="Name of the principal and its token.")
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, 36_500),
    default=None,
    help="Make the token expire after this many days (default: never).",
)
@with_appcontext
def create_token_command(
    role: str, organization_ids: tuple[int, ...], name: str, expires_in_days: int | None
):
    """Create a principal and print its token (shown once, alone on the last line)."""
    import datetime as dt

    from registry import tokens
    from registry.db import utcnow

    expires_at = utcnow() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    with db.database.connection_context():
        try:
            principal, token = tokens.create_principal_token(
                name=name,
                role=role,
                organization_ids=list(organization_ids),
                expires_at=expires_at,
                actor="cli",
            )
        except tokens.TokenError as error:
            raise click.UsageError(error.message) from error
    orgs = f", organisations {', '.join(map(str, organization_ids))}" if organization_ids else ""
    click.echo(f"Token for {principal.name} ({role}{orgs}). Shown once; store it now.")
    if expires_at:
        click.echo(f"It expires at {expires_at.isoformat(timespec='seconds')} UTC.")
    click.echo(token)


@click.command("invite")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option(
    "--organization",
    "organization_ids",
    type=int,
    multiple=True,
    help="Organisation the person acts for (repeatable; operators and partners).",
)
@click.option("--name", required=True, help="The person's name: what they sign in with.")
@with_appcontext
def invite_command(role: str, organization_ids: tuple[int, ...], name: str):
    """Invite a person to the pages and print the one-time link (alone on the last line)
    where they set their password; it is valid for REGISTRY_INVITE_DAYS days."""
    from registry import people
    from registry.errors import DomainError
    from registry.web.account import invitation_url

    config = current_app.config
    base = config["PUBLIC_URL"] or f"http://{config['HOST']}:{config['PORT']}"
    with db.database.connection_context():
        try:
            person, token = people.invite(
                name=name, role=role, organization_ids=list(organization_ids), actor="cli"
            )
        except DomainError as error:
            texts = [text for messages in (error.errors or {}).values() for text in messages]
            raise click.UsageError(" ".join(texts) or error.message) from error
    with current_app.test_request_context(base_url=base):
        link = invitation_url(token, base)
    days = config["INVITE_DAYS"]
    click.echo(f"Invitation for {person.name} ({role}); valid for {days} days, once. Pass on:")
    click.echo(link)


@click.command("run")
@click.option("--host", default=None, help="Address to listen on (REGISTRY_HOST).")
@click.option("--port", default=None, type=int, help="Port to listen on (REGISTRY_PORT).")
@with_appcontext
def run_command(host: str | None, port: int | None):
    """Serve the API, with the job scheduler in-process unless REGISTRY_SCHEDULER=0."""
    import signal

    from werkzeug.serving import run_simple

    app: Flask = current_app._get_current_object()
    scheduler = None
    if app.config["SCHEDULER"]:
        from jobs.scheduler import Scheduler

        scheduler = Scheduler(app)
        scheduler.start()
        # Stopped by a signal, still let the scheduler lock go (see the finally below).
        signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        run_simple(host or app.config["HOST"], port or app.config["PORT"], app, threaded=True)
    finally:
        if scheduler is not None:
            scheduler.shutdown()


@click.command("deliver")
@with_appcontext
def deliver_command():
    """Send pending webhook events now (the scheduler's delivery job, run once)."""
    from jobs.deliver import deliver_pending

    counts = deliver_pending()
    click.echo(", ".join(f"{name} {count}" for name, count in counts.items()))


def _exit_on_signal(signum, frame):
    raise SystemExit(0)


@click.command("scan")
@click.option(
    "--as-of",
    "as_of",
    callback=_as_of,
    metavar="YYYY-MM-DD",
    help="Scan as of this day (default: today in REGISTRY_TIMEZONE); not after today.",
)
@with_appcontext
def scan_command(as_of: dt.date | None):
    """Run the deadline scan now (for any day up to today) and print what it changed."""
    from registry.clock import today

    day = as_of or today()
    if day > today():
        raise click.BadParameter(
            f"{day} is after today ({today()}): the scan records what happened.",
            param_hint="--as-of",
        )
    _run_scan(day)


def _run_scan(day: dt.date) -> None:
    """Run the scan for ``day`` as a recorded job run and print what it changed."""
    import sys
    import time

    from jobs import catalog, runs, scan

    tty = sys.stdout.isatty()

    def progress(done: int, total: int) -> None:
        click.echo(f"\rScanning carriers: {done}/{total}", nl=False)

    outcome: dict = {}

    def work() -> dict:
        outcome["result"] = scan.scan(day, progress=progress if tty else None)
        return outcome["result"].counts()

    started = time.monotonic()
    with db.database.connection_context():
        run = runs.execute(catalog.get("scan"), trigger="cli", actor="cli", as_of=day, func=work)
    if tty:
        click.echo()
    if run.outcome != "succeeded":
        raise click.ClickException(f"The scan failed: {run.error}")
    click.echo(scan_summary(outcome["result"], time.monotonic() - started))


def scan_summary(result, seconds: float) -> str:
    """What a scan did, for people."""
    lines = [f"Scan as of {result.as_of}: {result.carriers} carriers in {seconds:.1f} s."]
    for verb, counter in (("Opened", result.opened), ("Resolved", result.resolved)):
        total = sum(counter.values())
        detail = ", ".join(f"{kind} {count}" for kind, count in sorted(counter.items()))
        lines.append(f"{verb} {total} alerts" + (f": {detail}." if detail else "."))
    lines.append(f"Updated days_left of {result.days_left_updated} open alerts.")
    expired = result.expired
    shown = ", ".join(map(str, expired[:20])) + (" …" if len(expired) > 20 else "")
    lines.append(
        f"Status changes: {len(expired)} carriers expired" + (f" ({shown})." if expired else ".")
    )
    if result.expiry_failures:
        lines.append(
            "Could not expire (history refused by the lifecycle): "
            + ", ".join(map(str, result.expiry_failures))
            + "."
        )
    return "\n".join(lines)


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the job scheduler alone (with several, one acts and the others stand by)."""
    import signal
    import threading

    from jobs.scheduler import Scheduler

    app: Flask = current_app._get_current_object()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = Scheduler(app)
    scheduler.start()
    state = "holds the lock and runs the jobs" if scheduler.is_leader else "stands by"
    click.echo(f"Scheduler {scheduler.holder} started; it {state}.")
    try:
        while not stop.wait(1):
            pass
    finally:
        scheduler.shutdown()
        click.echo(f"Scheduler {scheduler.holder} stopped.")


def _export_filters(command):
    """One ``--option`` per filter of the carrier list (and ``--sort``, ``--as-of``), read
    from the list's query schema so the CLI and the API take the same filters."""
    from schemas.spreadsheets import CarrierExportArgsSchema

    for name in reversed(sorted(CarrierExportArgsSchema().fields)):
        if name == "format":
            continue
        help_text = CarrierExportArgsSchema().fields[name].metadata.get("description", "")
        command = click.option(
            f"--{name.replace('_', '-')}", name, default=None, help=help_text.split(". ")[0]
        )(command)
    return command


def _acting_cli(name: str):
    """The CLI acts as the bureau (whoever runs it holds the server): an unsaved principal."""
    from registry.models import Principal

    return Principal(name=name, role="bureau_admin", organization_ids=[])


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["xlsx", "csv"]),
    default="xlsx",
    show_default=True,
    help="File format (CSV is UTF-8 with BOM).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="File to write (- for standard output).",
)
@_export_filters
@with_appcontext
def export_command(fmt: str, output: str, **filters):
    """Export the carrier list (every column, as the bureau reads it) with the list's
    filters, sort and --as-of."""
    import marshmallow as ma

    from registry import spreadsheets
    from registry.errors import DomainError
    from schemas.spreadsheets import CarrierExportArgsSchema

    given = {name: value for name, value in filters.items() if value is not None}
    try:
        args = CarrierExportArgsSchema().load(given)
    except ma.ValidationError as error:
        raise click.UsageError(_messages(error.messages)) from error
    args.pop("format", None)
    size = 0
    with db.database.connection_context():
        try:
            _, _, chunks = spreadsheets.export_carriers(_acting_cli("cli export"), args, fmt)
            with click.open_file(output, "wb") as file:
                for chunk in chunks:
                    file.write(chunk)
                    size += len(chunk)
        except DomainError as error:
            raise click.UsageError(error.message) from error
    if output != "-":
        click.echo(f"Wrote {size:,} bytes to {output}.", err=True)


def _messages(messages: dict) -> str:
    return "; ".join(
        f"--{name.replace('_', '-')}: {' '.join(map(str, texts))}"
        for name, texts in messages.items()
    )


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@with_appcontext
def import_command(file: str, dry_run: bool):
    """Import carriers from an XLSX or CSV sheet (the export's columns), all or nothing.

    Bad rows are listed (row, column, message) and the command exits with status 1.
    """
    import os
    import sys

    from registry import spreadsheets

    max_bytes, _ = spreadsheets.import_limits()
    if os.path.getsize(file) > max_bytes:
        raise click.UsageError(f"{file} is larger than REGISTRY_IMPORT_MAX_BYTES ({max_bytes:,}).")
    with open(file, "rb") as handle:
        data = handle.read()
    bar = None
    progress = None
    if sys.stderr.isatty():
        state = {"done": 0}

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = click.progressbar(length=total, label="Rows", file=sys.stderr)
                bar.__enter__()
            bar.update(done - state["done"])
            state["done"] = done

    with db.database.connection_context():
        try:
            report = spreadsheets.import_carriers(
                data, dry_run=dry_run, file_name=os.path.basename(file), progress=progress
            )
        except spreadsheets.SheetError as error:
            details = [
                f"{where}: {' '.join(texts)}" for where, texts in (error.errors or {}).items()
            ]
            raise click.ClickException("\n".join([error.message, *details])) from error
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
    for error in report.errors:
        where = f"row {error['row']}" + (f", {error['column']}" if error["column"] else "")
        click.echo(f"{where}: {error['message']}", err=True)
    if report.ignored_columns:
        click.echo(f"Ignored columns: {', '.join(report.ignored_columns)}.")
    click.echo(("Dry run: " if dry_run else "") + report.summary())
    if report.errors:
        sys.exit(1)


COMMANDS = [
    init_db_command,
    rebuild_command,
    load_fixtures_command,
    create_token_command,
    invite_command,
    run_command,
    deliver_command,
    scan_command,
    scheduler_command,
    import_command,
    export_command,
]


def register_cli(app: Flask) -> None:
    """Register the commands on the app (``flask --app wsgi <command>``)."""
    for command in COMMANDS:
        app.cli.add_command(command)


main = FlaskGroup(
    name="registry",
    create_app=_create_app,
    add_default_commands=False,
    help="Carrier Registry: serve, manage the database, tokens and jobs.",
)
for _command in COMMANDS:
    main.add_command(_command)
