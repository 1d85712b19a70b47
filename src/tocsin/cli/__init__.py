"""The ``tocsin`` command: everything an admin does from a shell.

A face: it parses, calls a service, presents.  Exit status 0 on success, 1 when an
operation failed (a test email that did not go through), 2 for refused input, 75
(``EX_TEMPFAIL``) when the disk is full: nothing was stored, try again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from tocsin.address import InvalidAddress, parse_address
from tocsin.cli import escalation as _escalation  # noqa: F401  (group set-escalation)
from tocsin.cli.db import backup, db_app, restore
from tocsin.cli.discovery import settings_discover
from tocsin.cli.failover import failover_app
from tocsin.cli.helptext import json_errors, plain_help, wants_json
from tocsin.cli.intake import intake_app
from tocsin.cli.mqtt import mqtt_app
from tocsin.cli.oauth import oauth_app
from tocsin.cli.outbox import outbox_app, worker
from tocsin.cli.public_url import settings_public_url
from tocsin.cli.relay import online_app, relay_app
from tocsin.cli.secrets import refuse_secret_pairs
from tocsin.cli.sites import event_app, group_app, site_app, user_app
from tocsin.cli.support import (
    DataOption,
    JsonOption,
    LangOption,
    LogFormatOption,
    LogLevelOption,
    fail,
    start_logging,
)
from tocsin.deploy.logs import LogFormat
from tocsin.errors import ConfigError, MissingExtra, SchemaError, StorageFull
from tocsin.i18n import available_languages, translate
from tocsin.security import MIN_PASSWORD_LENGTH
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
settings_app.command("discover")(settings_discover)
settings_app.command("public-url")(settings_public_url)
settings_app.add_typer(oauth_app, name="oauth")
settings_app.add_typer(failover_app, name="failover")
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
app.add_typer(intake_app, name="intake")
app.add_typer(relay_app, name="relay")
app.add_typer(online_app, name="online")
app.add_typer(db_app, name="db")
app.add_typer(mqtt_app, name="mqtt")
app.command("backup")(backup)
app.command("restore")(restore)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


_MARK = {
    Level.ERROR: ("[red]✗ {}[/]", "cli_error"),
    Level.WARNING: ("[yellow]! {}[/]", "cli_warning"),
    Level.TIP: ("[cyan]i {}[/]", "cli_tip"),
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
        style, word = _MARK[issue.level]
        mark = style.format(translate(word, language))
        console.print(f"{mark} [bold]{issue.field}[/]: {escape(issue.text(language))}")


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
            err.print(f"[red]✗[/] {escape(translate('cli_not_key_value', language, pair=pair))}")
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
        err.print(f"[red]✗[/] {translate('cli_nothing_saved_fix', language)}")
        raise typer.Exit(2)
    out.print(f"[green]✓ {translate('cli_saved', language)}[/]")


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
        password = getpass.getpass(translate("cli_password_prompt", language))
        if getpass.getpass(translate("cli_again", language)) != password:
            err.print(f"[red]✗[/] {translate('cli_entries_differ', language)}")
            raise typer.Exit(2)
    if not password and not clear:
        err.print(f"[red]✗[/] {translate('cli_password_empty', language)}")
        raise typer.Exit(2)
    services = _open(data)
    try:
        _, report, saved = services.settings.update({"password": password or None})
    finally:
        services.close()
    _print_report(report, language)
    if not saved:
        err.print(f"[red]✗[/] {translate('cli_nothing_saved', language)}")
        raise typer.Exit(2)
    # One literal per call: Babel's extractor would glue a conditional's two codes.
    done = (
        translate("cli_password_cleared", language)
        if clear
        else translate("cli_password_saved", language)
    )
    out.print(f"[green]✓ {done}[/]")


@app.command("test-email")
def send_test(
    to: Annotated[str, typer.Option("--to", help="Where to send the test email.")],
    pairs: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Try KEY=VALUE instead of the saved value (repeatable); nothing is saved.",
        ),
    ] = None,
    password: Annotated[
        bool,
        typer.Option("--password", help="Try another password: asked without echo, never saved."),
    ] = False,
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the password to try from stdin.")
    ] = False,
    data: DataOption = None,
    language: LangOption = "en",
    as_json: JsonOption = False,
    link: Annotated[
        int, typer.Option("--link", min=0, max=3, help="Failover link: 0 primary, 1-3 backup.")
    ] = 0,
) -> None:
    """Send a test email and report every step of the conversation, with hints.

    Tests the saved settings, or with --set (and --password / --stdin) the saved
    settings as those changes would make them, validated like a save and never
    saved: live delivery keeps the saved settings.  Works while email is still
    disabled (to try the settings before enabling them); it says so.
    """
    from tocsin.services.test_email import TestEmailRefused, send_test_email

    try:
        parse_address(to)
    except InvalidAddress as exc:
        err.print(f"[red]✗[/] --to: {escape(exc.text(language))}")
        raise typer.Exit(2) from None
    if any(pair.partition("=")[0].strip() == "password" for pair in pairs or ()):
        # For a test the way out is --password (asked without echo), not a save.
        command = "tocsin test-email --to ADDRESS --password"
        fail(translate("secret_on_command_line", language, field="password", command=command))
    changes: dict[str, object] | None = dict(_parse_pairs(pairs, language)) if pairs else None
    if password or stdin:
        if stdin or not sys.stdin.isatty():
            typed = sys.stdin.readline().rstrip("\r\n")
        else:
            typed = getpass.getpass(translate("cli_password_prompt", language))
        if not typed:
            err.print(f"[red]✗[/] {translate('cli_password_empty', language)}")
            raise typer.Exit(2)
        changes = {**(changes or {}), "password": typed}
    services = _open(data)
    enabled = services.settings.load().enabled

    def progress(step: Any) -> None:
        if as_json or step.status.value == "start":
            return
        mark = "[green]✓[/]" if step.status.value == "ok" else "[red]✗[/]"
        out.print(f"{mark} {step.step.value:<9} {step.summary}")
        if step.hint:
            out.print(f"  [bold]→ {step.hint}[/]")

    try:
        report = asyncio.run(
            send_test_email(
                services, to, language=language, progress=progress, changes=changes, link=link
            )
        )
    except TestEmailRefused as exc:
        _refused_test(exc.report, language, enabled=enabled, as_json=as_json)
        raise typer.Exit(2) from None
    finally:
        services.close()
    note = None if enabled else translate("test_email_disabled_note", language)
    if as_json:
        document = report.as_dict()
        if note:
            document["notes"] = [note]
        out.print_json(json.dumps(document))
    elif report.ok:
        reply = escape(report.server_reply)
        out.print(f"[green]✓ {translate('test_email_accepted', language, reply=reply)}[/]")
    else:
        err.print(f"[red]✗ {translate('test_email_not_delivered', language)}[/]")
    if note and not as_json:
        out.print(f"[yellow]![/] {note}")
    if not report.ok:
        raise typer.Exit(1)


def _refused_test(report: Report, language: str, *, enabled: bool, as_json: bool) -> None:
    """Say why the test email was not even tried: in JSON on stdout, or as text."""
    missing = [i.field for i in report.issues if i.code == "required"]
    if not enabled and missing:
        fields = ", ".join(missing)
        summary = translate("test_email_disabled_incomplete", language, fields=fields)
    elif any(i.code == "online_not_enrolled" for i in report.issues):
        summary = translate("test_email_not_enrolled", language)
    else:
        summary = translate("test_email_incomplete", language)
    if as_json:
        issues = report.as_dicts(language)
        document = {"ok": False, "error": summary, "enabled": enabled, "issues": issues}
        out.print_json(json.dumps(document))
        return
    _print_report(report, language)
    err.print(f"[red]✗[/] {escape(summary)}")


def _read_new_password(prompt: str, stdin: bool, language: str = "en") -> str:
    if stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass(prompt)
    if getpass.getpass(translate("cli_again", language)) != password:
        err.print(f"[red]✗[/] {translate('cli_entries_differ', language)}")
        raise typer.Exit(2)
    return password


def _admin_refusal(message: str, language: str) -> str:
    """The service's English refusal of an admin, in ``language``."""
    if message.startswith("the username"):
        return translate("cli_admin_username_invalid", language)
    if message.startswith("the password"):
        return translate("cli_admin_password_short", language, count=MIN_PASSWORD_LENGTH)
    if message.startswith("the language"):
        languages = ", ".join(available_languages())
        return translate("cli_language_unknown", language, languages=languages)
    return message


@admin_app.command("create")
def admin_create(
    username: Annotated[str, typer.Option(help="Login name.")] = "admin",
    language: LangOption = "en",
    data: DataOption = None,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create an administrator (the password is asked without echo)."""
    password = _read_new_password(translate("cli_admin_password_prompt", language), stdin, language)
    services = _open(data)
    try:
        services.accounts.create_admin(username, password, language)
    except ValueError as exc:
        err.print(f"[red]✗[/] {escape(_admin_refusal(str(exc), language))}")
        raise typer.Exit(2) from None
    finally:
        services.close()
    done = translate("cli_admin_created", language, username=username)
    out.print(f"[green]✓ {escape(done)}[/]")


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
    from tocsin.cli.runtime import run_service, serve_forever

    start_logging(log_format, log_level)
    try:
        limits = DiskLimits.from_mb(warn_mb=disk_warn_mb, min_free_mb=disk_min_free_mb)
    except ConfigError as exc:
        err.print(f"[red]✗[/] --disk-warn-mb / --disk-min-free-mb: {exc}")
        raise typer.Exit(2) from None
    services = _open(data)
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
