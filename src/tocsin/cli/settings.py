"""``tocsin settings``: show and change the email settings (OAuth and failover in their
own modules, ``tocsin settings oauth`` and ``tocsin settings failover``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from tocsin.cli.discovery import settings_discover
from tocsin.cli.failover import failover_app
from tocsin.cli.oauth import oauth_app
from tocsin.cli.public_url import settings_public_url
from tocsin.cli.secrets import refuse_secret_pairs
from tocsin.cli.support import (
    DataOption,
    JsonOption,
    LangOption,
    err,
    open_services,
    out,
    print_report,
    read_secret,
)
from tocsin.i18n import translate

__all__ = ["parse_pairs", "settings_app"]

settings_app = typer.Typer(help="Show and change the email settings.", no_args_is_help=True)
settings_app.add_typer(oauth_app, name="oauth")
settings_app.add_typer(failover_app, name="failover")
settings_app.command("discover")(settings_discover)
settings_app.command("public-url")(settings_public_url)


def _show(values: dict[str, Any]) -> None:
    from tocsin.settings import SECRET_FIELDS

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
    services = open_services(data)
    try:
        values = services.settings.load().public()
    finally:
        services.close()
    if as_json:
        out.print_json(json.dumps(values))
    else:
        _show(values)


def parse_pairs(pairs: list[str], language: str) -> dict[str, str]:
    """``KEY=VALUE`` arguments as a dict; a pair without ``=`` or naming a secret ends with
    exit status 2 (secrets are asked without echo, never typed on a command line)."""
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
    changes = parse_pairs(pairs, language)
    services = open_services(data)
    try:
        _, report, saved = services.settings.update(changes)
    finally:
        services.close()
    print_report(report, language)
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
    password = (
        ""
        if clear
        else read_secret(
            translate("cli_password_prompt", language), stdin=stdin, language=language, confirm=True
        )
    )
    if not password and not clear:
        err.print(f"[red]✗[/] {translate('cli_password_empty', language)}")
        raise typer.Exit(2)
    services = open_services(data)
    try:
        _, report, saved = services.settings.update({"password": password or None})
    finally:
        services.close()
    print_report(report, language)
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
