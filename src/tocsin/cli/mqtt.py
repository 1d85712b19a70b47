"""``tocsin mqtt show|set|password|status``: the MQTT intake from a shell.

A face: it parses, calls :class:`~tocsin.intake.mqtt.service.MqttService`, presents.
The password never goes on the command line (it would land in the shell history and
the process list): ``tocsin mqtt password`` asks for it or reads it from stdin.
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from tocsin.cli.support import (
    DataOption,
    JsonOption,
    LangOption,
    fail,
    open_services,
    out,
    print_report,
)
from tocsin.i18n import translate

if TYPE_CHECKING:
    from tocsin.intake.mqtt.service import MqttService
    from tocsin.services.context import Services

__all__ = ["mqtt_app"]

mqtt_app = typer.Typer(
    help="Show and change the MQTT intake (a broker's topics as a way in).", no_args_is_help=True
)


def _mqtt(services: Services) -> MqttService:
    """The MQTT intake's service (imported here: not every run of ``tocsin`` needs it)."""
    from tocsin.intake.mqtt.service import MqttService

    return MqttService(services)


def _save(data: Path | None, changes: dict[str, object], language: str) -> None:
    services = open_services(data)
    try:
        _, report, saved = _mqtt(services).update(changes)
    finally:
        services.close()
    print_report(report, language)
    if not saved:
        fail(translate("cli_nothing_saved_fix", language))
    out.print(f"[green]✓ {translate('cli_saved', language)}[/]")


@mqtt_app.command("show")
def mqtt_show(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Show the MQTT settings (the password only as set / not set)."""
    services = open_services(data)
    try:
        values = _mqtt(services).load().public()
    finally:
        services.close()
    values.pop("password")
    if as_json:
        out.print_json(json.dumps(values))
        return
    values["topics"] = ", ".join(values["topics"])
    values["password_set"] = "set" if values["password_set"] else "not set"
    width = max(len(k) for k in values)
    for key, value in values.items():
        out.print(f"{key:<{width}}  {escape(str(value))}")


@mqtt_app.command("set")
def mqtt_set(
    pairs: Annotated[
        list[str], typer.Argument(help="KEY=VALUE pairs, e.g. host=broker.lan topics=site/+/events")
    ],
    data: DataOption = None,
    language: LangOption = "en",
) -> None:
    """Change the MQTT settings; refused as a whole if any value is wrong.

    Keys: enabled, host, port, tls, ca_file, username, client_id, topics (comma-separated,
    wildcards + and # allowed).  Turning tls on or off moves the port to 8883 / 1883
    unless you chose another port.  `tocsin serve` picks up a change within seconds.
    """
    changes: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(escape(translate("cli_not_key_value", language, pair=pair)))
        if key.strip() == "password":
            fail(
                translate(
                    "secret_on_command_line",
                    language,
                    field="password",
                    command="tocsin mqtt password",
                )
            )
        changes[key.strip()] = value
    _save(data, changes, language)


@mqtt_app.command("password")
def mqtt_password(
    data: DataOption = None,
    language: LangOption = "en",
    clear: Annotated[bool, typer.Option("--clear", help="Remove the stored password.")] = False,
) -> None:
    """Set the broker password (asked without echo, or read from stdin), or clear it."""
    if clear:
        password = ""
    elif not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(translate("cli_password_prompt", language))
    if not password and not clear:
        fail(translate("cli_password_empty", language))
    _save(data, {"password": password or None}, language)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@mqtt_app.command("status")
def mqtt_status(
    data: DataOption = None, as_json: JsonOption = False, language: LangOption = "en"
) -> None:
    """The subscriber's state as `tocsin serve` last wrote it, and the newest dead letters."""
    services = open_services(data)
    try:
        service = _mqtt(services)
        status = service.status()
        letters = service.dead_letters.newest(limit=10)
        total = service.dead_letters.count()
    finally:
        services.close()
    if as_json:
        answer: dict[str, Any] = {
            **status.as_dict(),
            "message": translate(f"mqtt_state_{status.state}", language),
            "error_message": translate(f"mqtt_error_{status.error}", language)
            if status.error
            else "",
            "dead_letters": total,
            "newest_dead_letters": [
                {
                    "received_at": d.received_at,
                    "topic": d.topic,
                    "reason": d.reason,
                    "detail": d.detail,
                }
                for d in letters
            ],
        }
        out.print_json(json.dumps(answer))
        return
    line = translate(f"mqtt_state_{status.state}", language)
    if status.broker:
        line += f" ({status.broker})"
    out.print(escape(line))
    if status.error:
        out.print(f"[yellow]![/] {escape(translate(f'mqtt_error_{status.error}', language))}")
    out.print(escape(translate("mqtt_dead_letter_count", language, total=total)))
    for letter in letters:
        reason = f"{letter.reason}: {letter.detail}"
        out.print(f"  {_when(letter.received_at)}  {escape(letter.topic)}  {escape(reason)}")
