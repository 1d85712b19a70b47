"""The ``tocsin`` command: everything an admin does from a shell.

A face: it parses, calls a service, presents.  Exit status 0 on success, 1 when an
operation failed (a test email that did not go through), 2 for refused input, 75
(``EX_TEMPFAIL``) when the disk is full: nothing was stored, try again later.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape

from tocsin.cli import escalation as _escalation  # noqa: F401  (group set-escalation)
from tocsin.cli.accounts import admin_app, token_app
from tocsin.cli.db import backup, db_app, restore
from tocsin.cli.helptext import json_errors, plain_help, wants_json
from tocsin.cli.intake import intake_app
from tocsin.cli.mqtt import mqtt_app
from tocsin.cli.outbox import outbox_app, worker
from tocsin.cli.relay import online_app, relay_app
from tocsin.cli.settings import settings_app
from tocsin.cli.sites import event_app, group_app, site_app, user_app
from tocsin.cli.support import (
    DataOption,
    LogFormatOption,
    LogLevelOption,
    err,
    open_services,
    start_logging,
)
from tocsin.cli.test_email import send_test
from tocsin.deploy.logs import LogFormat
from tocsin.errors import ConfigError, MissingExtra, StorageFull
from tocsin.services.disk import (
    DEFAULT_MIN_FREE_MB,
    DEFAULT_WARN_MB,
    ENV_MIN_FREE_MB,
    ENV_WARN_MB,
    DiskLimits,
)

app = typer.Typer(
    help="Tocsin: email notifications for alarms and warnings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(settings_app, name="settings")
app.add_typer(outbox_app, name="outbox")
app.command("worker")(worker)
app.add_typer(admin_app, name="admin")
app.add_typer(token_app, name="token")
app.add_typer(group_app, name="group")
app.add_typer(user_app, name="user")
app.add_typer(event_app, name="event")
app.add_typer(site_app, name="site")
app.add_typer(intake_app, name="intake")
app.add_typer(relay_app, name="relay")
app.add_typer(online_app, name="online")
app.add_typer(db_app, name="db")
app.add_typer(mqtt_app, name="mqtt")
app.command("backup")(backup)
app.command("restore")(restore)
app.command("test-email")(send_test)

HostOption = Annotated[str, typer.Option(help="Address to listen on.")]
PortOption = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")]


@app.command("serve")
def serve(
    data: DataOption = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8025,
    disk_warn_mb: Annotated[
        float,
        typer.Option(
            envvar=ENV_WARN_MB,
            help="Send a system notice when the data directory has less free (MB).",
        ),
    ] = DEFAULT_WARN_MB,
    disk_min_free_mb: Annotated[
        float,
        typer.Option(
            envvar=ENV_MIN_FREE_MB,
            help="Refuse new events (503) below this much free space (MB); the rest "
            "serves delivering what was accepted. 0: only when the disk is full.",
        ),
    ] = DEFAULT_MIN_FREE_MB,
    log_format: LogFormatOption = LogFormat.TEXT,
    log_level: LogLevelOption = "info",
) -> None:
    """Run the service: web interface, REST API and the delivery engine, in one process.

    Logs go to stderr, one line per event.  Under systemd (Type=notify) it reports
    when it is ready and when it stops; see 'tocsin systemd-unit'.
    """
    from tocsin.cli.runtime import run_service, serve_forever

    start_logging(log_format, log_level)
    try:
        limits = DiskLimits.from_mb(warn_mb=disk_warn_mb, min_free_mb=disk_min_free_mb)
    except ConfigError as exc:
        err.print(f"[red]✗[/] --disk-warn-mb / --disk-min-free-mb: {exc}")
        raise typer.Exit(2) from None
    services = open_services(data)
    services.disk.limits = limits
    try:
        run_service(serve_forever(services, host=host, port=port))
    except KeyboardInterrupt:
        pass
    finally:
        services.close()


@app.command("systemd-unit")
def systemd_unit(host: HostOption = "127.0.0.1", port: PortOption = 8025) -> None:
    """Print the systemd unit for this installation (tocsin user, /var/lib/tocsin, hardened).

    Install: tocsin systemd-unit > /etc/systemd/system/tocsin.service
    """
    from tocsin.deploy.systemd import unit_text

    try:
        text = unit_text(host=host, port=port)
    except ValueError as exc:
        err.print(f"[red]✗[/] --host: {exc}")
        raise typer.Exit(2) from None
    sys.stdout.write(text)


EX_TEMPFAIL = 75
"""sysexits.h: a temporary failure; the user is invited to retry (a full disk)."""


def main() -> None:
    """Entry point of the ``tocsin`` script."""
    run(app)


def run(command: typer.Typer, **options: Any) -> None:
    """Run ``command``; a missing extra or a full disk is one line, not a traceback.

    Help shows plain placeholders (see :mod:`tocsin.cli.helptext`); with ``--json`` an
    error ends as JSON on stdout too.
    """
    args = options.get("args")
    as_json = wants_json(list(args) if args is not None else sys.argv[1:])
    with json_errors() if as_json else contextlib.nullcontext():
        try:
            plain_help(typer.main.get_command(command))(**options)
        except MissingExtra as exc:
            err.print(f"[red]✗[/] {escape(str(exc))}")
            raise SystemExit(2) from None
        except StorageFull as exc:  # a condition, not a crash: one line, no traceback
            err.print(f"[red]✗[/] {escape(str(exc))}; nothing was stored, try again later.")
            sys.exit(EX_TEMPFAIL)
