"""The ``tocsin`` command: everything an admin does from a shell.

A face: it parses, calls a service, presents.  Exit status 0 on success, 1 when an
operation failed (a test email that did not go through), 2 for refused input, 75
(``EX_TEMPFAIL``) when the disk is full: nothing was stored, try again later.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from tocsin.address import InvalidAddress, parse_address
from tocsin.cli.db import backup, db_app, restore
from tocsin.cli.oauth import oauth_app
from tocsin.cli.outbox import outbox_app, worker
from tocsin.cli.relay import online_app, relay_app
from tocsin.cli.secrets import refuse_secret_pairs
from tocsin.cli.sites import event_app, group_app, site_app, user_app
from tocsin.cli.support import (
    DataOption,
    JsonOption,
    LangOption,
    LogFormatOption,
    LogLevelOption,
    start_logging,
)
from tocsin.deploy.logs import LogFormat
from tocsin.errors import ConfigError, MissingExtra, SchemaError, StorageFull
from tocsin.services.context import Services
from tocsin.services.disk import (
    DEFAULT_MIN_FREE_MB,
    DEFAULT_WARN_MB,
    ENV_MIN_FREE_MB,
    ENV_WARN_MB,
    DiskLimits,
)
from tocsin.settings import SECRET_FIELDS
from tocsin.validation import Level, Report

app = typer.Typer(
    help="Tocsin: email notifications for alarms and warnings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
settings_app = typer.Typer(help="Show and change the email settings.", no_args_is_help=True)
app.add_typer(settings_app, name="settings")
settings_app.add_typer(oauth_app, name="oauth")
app.add_typer(outbox_app, name="outbox")
app.command("worker")(worker)
admin_app = typer.Typer(help="Administrator accounts for the web interface.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
token_app = typer.Typer(
    help="API tokens (for devices posting events, or scripts).", no_args_is_help=True
)
app.add_typer(token_app, name="token")
app.add_typer(group_app, name="group")
app.add_typer(user_app, name="user")
app.add_typer(event_app, name="event")
app.add_typer(site_app, name="site")
app.add_typer(relay_app, name="relay")
app.add_typer(online_app, name="online")
app.add_typer(db_app, name="db")
app.command("backup")(backup)
app.command("restore")(restore)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


_MARK = {
    Level.ERROR: "[red]✗ error[/]",
    Level.WARNING: "[yellow]! warning[/]",
    Level.TIP: "[cyan]i tip[/]",
}


def _open(data: Path | None) -> Services:
    try:
        return Services.open(data)
    except ConfigError as exc:
        err.print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except SchemaError as exc:  # a newer Tocsin wrote the database: refuse to start
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(1) from None


def _print_report(report: Report, language: str) -> None:
    for issue in report.issues:
        console = err if issue.level is Level.ERROR else out
        console.print(f"{_MARK[issue.level]} [bold]{issue.field}[/]: {issue.text(language)}")


def _show(values: dict[str, Any]) -> None:
    width = max(len(k) for k in values)
    for key, value in values.items():
        if key in SECRET_FIELDS:
            continue
        if key.endswith("_set") and key.removesuffix("_set") in SECRET_FIELDS:
            key, value = key.removesuffix("_set"), "set" if value else "not set"
        out.print(f"{key:<{width}}  {'' if value is None else value}")


@settings_app.command("show")
def settings_show(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Show the email settings (the password only as set / not set)."""
    services = _open(data)
    try:
        values = services.settings.load().public()
    finally:
        services.close()
    if as_json:
        out.print_json(json.dumps(values))
    else:
        _show(values)


def _parse_pairs(pairs: list[str], language: str) -> dict[str, str]:
    changes: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            err.print(f"[red]✗[/] '{pair}' is not KEY=VALUE (example: host=smtp.example.com)")
            raise typer.Exit(2)
        refuse_secret_pairs([key.strip()], language)
        changes[key.strip()] = value
    return changes


@settings_app.command("set")
def settings_set(
    pairs: Annotated[list[str], typer.Argument(help="KEY=VALUE pairs, e.g. encryption=ssl")],
    data: DataOption = None,
    language: LangOption = "en",
) -> None:
    """Change settings; refused as a whole if any value is wrong.

    Changing the encryption moves the port to the new mode's default (25 / 465 / 587)
    unless you chose another port yourself.
    """
    changes = _parse_pairs(pairs, language)
    services = _open(data)
    try:
        _, report, saved = services.settings.update(changes)
    finally:
        services.close()
    _print_report(report, language)
    if not saved:
        err.print("[red]Nothing was saved.[/] Correct the fields above and try again.")
        raise typer.Exit(2)
    out.print("[green]✓ Saved.[/]")


@settings_app.command("password")
def settings_password(
    data: DataOption = None,
    language: LangOption = "en",
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the password from stdin.")] = False,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the stored password.")] = False,
) -> None:
    """Set the SMTP password (asked without echo, or read from stdin), or clear it."""
    if clear:
        password = ""
    elif stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("SMTP password: ")
        if getpass.getpass("Again: ") != password:
            err.print("[red]✗[/] The two entries differ; nothing was saved.")
            raise typer.Exit(2)
    if not password and not clear:
        err.print("[red]✗[/] Empty password; to remove the password use --clear.")
        raise typer.Exit(2)
    services = _open(data)
    try:
        _, report, saved = services.settings.update({"password": password or None})
    finally:
        services.close()
    _print_report(report, language)
    if not saved:
        err.print("[red]Nothing was saved.[/]")
        raise typer.Exit(2)
    out.print("[green]✓ Password cleared.[/]" if clear else "[green]✓ Password saved.[/]")


@app.command("test-email")
def send_test(
    to: Annotated[str, typer.Option("--to", help="Where to send the test email.")],
    data: DataOption = None,
    language: LangOption = "en",
    as_json: JsonOption = False,
) -> None:
    """Send a test email and report every step of the conversation, with hints."""
    from tocsin.services.test_email import TestEmailRefused, send_test_email

    try:
        parse_address(to)
    except InvalidAddress as exc:
        err.print(f"[red]✗[/] --to: {exc}")
        raise typer.Exit(2) from None
    services = _open(data)

    def progress(step: Any) -> None:
        if as_json or step.status.value == "start":
            return
        mark = "[green]✓[/]" if step.status.value == "ok" else "[red]✗[/]"
        out.print(f"{mark} {step.step.value:<9} {step.summary}")
        if step.hint:
            out.print(f"  [bold]→ {step.hint}[/]")

    try:
        report = asyncio.run(send_test_email(services, to, language=language, progress=progress))
    except TestEmailRefused as exc:
        _print_report(exc.report, language)
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    finally:
        services.close()
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    elif report.ok:
        out.print(f"[green]Test email accepted by the server[/] ({report.server_reply}).")
    else:
        err.print("[red]The test email was not delivered.[/] See the hint above.")
    if not report.ok:
        raise typer.Exit(1)


def _read_new_password(prompt: str, stdin: bool) -> str:
    if stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass(prompt)
    if getpass.getpass("Again: ") != password:
        err.print("[red]✗[/] The two entries differ; nothing was saved.")
        raise typer.Exit(2)
    return password


@admin_app.command("create")
def admin_create(
    username: Annotated[str, typer.Option(help="Login name.")] = "admin",
    language: LangOption = "en",
    data: DataOption = None,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create an administrator (the password is asked without echo)."""
    password = _read_new_password("Password for the new admin: ", stdin)
    services = _open(data)
    try:
        services.accounts.create_admin(username, password, language)
    except ValueError as exc:
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    finally:
        services.close()
    out.print(f"[green]✓ Admin '{username}' created.[/]")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. 'site A gateway'.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="events (post events) or admin (everything); repeatable."),
    ] = None,
    data: DataOption = None,
) -> None:
    """Create an API token. It is shown once; only its hash is stored."""
    services = _open(data)
    try:
        token, record = services.accounts.create_token(name, tuple(scope or ["events"]))
    except ValueError as exc:
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    finally:
        services.close()
    err.print(
        f"Token {record.id} '{record.name}' ({' '.join(record.scopes)}). "
        "Copy it now: it is not shown again."
    )
    out.print(token)


@token_app.command("list")
def token_list(data: DataOption = None) -> None:
    """List API tokens (never their values)."""
    services = _open(data)
    try:
        tokens = services.accounts.list_tokens()
    finally:
        services.close()
    for t in tokens:
        state = "active" if t.active else "revoked"
        out.print(f"{t.id:>4}  {state:<8} {' '.join(t.scopes):<14} {t.name}")


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id.")], data: DataOption = None
) -> None:
    """Revoke a token at once."""
    services = _open(data)
    try:
        done = services.accounts.revoke_token(token_id)
    finally:
        services.close()
    if not done:
        err.print(f"[red]✗[/] No active token {token_id} (see 'tocsin token list').")
        raise typer.Exit(2)
    out.print(f"[green]✓ Token {token_id} revoked.[/]")


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
    from tocsin.cli.runtime import serve_forever

    start_logging(log_format, log_level)
    try:
        limits = DiskLimits.from_mb(warn_mb=disk_warn_mb, min_free_mb=disk_min_free_mb)
    except ConfigError as exc:
        err.print(f"[red]✗[/] --disk-warn-mb / --disk-min-free-mb: {exc}")
        raise typer.Exit(2) from None
    services = _open(data)
    services.disk.limits = limits
    try:
        asyncio.run(serve_forever(services, host=host, port=port))
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
    """Run ``command``; a missing extra or a full disk is one line, not a traceback."""
    try:
        command(**options)
    except MissingExtra as exc:
        err.print(f"[red]✗[/] {escape(str(exc))}")
        raise SystemExit(2) from None
    except StorageFull as exc:  # a condition, not a crash: one line, no traceback
        err.print(f"[red]✗[/] {escape(str(exc))}; nothing was stored, try again later.")
        sys.exit(EX_TEMPFAIL)
