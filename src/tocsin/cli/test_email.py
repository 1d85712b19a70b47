"""``tocsin test-email``: send a test email and report every step, with hints."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from tocsin.cli.settings import parse_pairs
from tocsin.cli.support import (
    DataOption,
    JsonOption,
    LangOption,
    err,
    fail,
    open_services,
    out,
    print_report,
    read_secret,
)
from tocsin.i18n import translate

if TYPE_CHECKING:
    from tocsin.validation import Report

__all__ = ["send_test"]


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
    import asyncio

    from tocsin.address import InvalidAddress, parse_address
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
    changes: dict[str, object] | None = dict(parse_pairs(pairs, language)) if pairs else None
    if password or stdin:
        prompt = translate("cli_password_prompt", language)
        typed = read_secret(prompt, stdin=stdin, language=language)
        if not typed:
            err.print(f"[red]✗[/] {translate('cli_password_empty', language)}")
            raise typer.Exit(2)
        changes = {**(changes or {}), "password": typed}
    services = open_services(data)
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
    print_report(report, language)
    err.print(f"[red]✗[/] {escape(summary)}")
