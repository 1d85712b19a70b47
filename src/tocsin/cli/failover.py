"""``tocsin settings failover``: the backup links behind the primary, and the policy.

Each link takes the same KEY=VALUE pairs as ``tocsin settings set``, validated by
the same validator; a link's password never passes through the command line
(``tocsin settings failover password N`` asks for it without echo, or reads stdin).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from tocsin.cli.secrets import read_secret, refuse_secret_pairs
from tocsin.cli.support import DataOption, JsonOption, LangOption, err, fail, out, run
from tocsin.i18n import translate

if TYPE_CHECKING:
    from tocsin.services.context import Services
    from tocsin.validation import Report

__all__ = ["failover_app"]

failover_app = typer.Typer(
    help="The failover chain: backup links that carry alarms when the primary fails.",
    no_args_is_help=True,
)
LinkArgument = Annotated[int, typer.Argument(min=1, max=3, help="The backup link: 1, 2 or 3.")]
Pairs = Annotated[list[str], typer.Argument(help="KEY=VALUE pairs, e.g. after_failures=3")]


def _pairs(pairs: list[str], language: str) -> dict[str, str]:
    changes: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(escape(translate("cli_not_key_value", language, pair=pair)))
        refuse_secret_pairs([key.strip()], language)
        changes[key.strip()] = value
    return changes


def _save(data: Any, changes: dict[str, object], language: str) -> None:
    from tocsin.validation import Level

    def work(services: Services) -> tuple[Report, bool]:
        _, report, saved = services.failover.update(changes)
        return report, saved

    report, saved = run(data, work)
    for issue in report.issues:
        console = err if issue.level is Level.ERROR else out
        mark = {"error": "[red]✗", "warning": "[yellow]!", "tip": "[cyan]i"}[issue.level.value]
        console.print(f"{mark} [bold]{issue.field}[/]:[/] {escape(issue.text(language))}")
    if not saved:
        fail(translate("cli_nothing_saved_fix", language))
    out.print(f"[green]✓ {translate('cli_saved', language)}[/]")


def _link_changes(services: Services, link: int, changes: dict[str, object]) -> list[Any]:
    """The ``links`` list that changes backup link ``link`` and keeps the others."""
    count = len(services.failover.load().links)
    if link > count + 1:
        fail(f"there is no backup link {link}; the next new one is {count + 1}")
    entries: list[dict[str, object]] = [{} for _ in range(max(count, link))]
    entries[link - 1] = changes
    return entries


@failover_app.command("show")
def show(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Show the policy and the backup links (passwords only as set / not set)."""
    from tocsin.settings import SECRET_FIELDS

    values = run(data, lambda services: services.failover.load().public())
    if as_json:
        out.print_json(json.dumps(values))
        return
    links = values.pop("links")
    for key, value in values.items():
        out.print(f"{key:<16}  {value}")
    for number, link in enumerate(links, start=1):
        out.print(f"\n[bold]backup link {number}[/] ({link['name']})")
        for key, value in link.items():
            if key in SECRET_FIELDS or key == "name":
                continue
            if key.endswith("_set"):
                key, value = key.removesuffix("_set"), "set" if value else "not set"
            out.print(f"  {key:<22}  {'' if value is None else value}")


@failover_app.command("set")
def set_policy(pairs: Pairs, data: DataOption = None, language: LangOption = "en") -> None:
    """Change the policy: enabled, after_failures, after_seconds, warnings_follow,
    system_follow, probe_interval; refused as a whole if any value is wrong."""
    _save(data, dict(_pairs(pairs, language)), language)


@failover_app.command("link")
def set_link(
    link: LinkArgument,
    pairs: Pairs,
    data: DataOption = None,
    language: LangOption = "en",
    credential: Annotated[
        bool,
        typer.Option(
            "--device-credential",
            help="Also ask for the online service's device credential (without echo).",
        ),
    ] = False,
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the device credential from stdin.")
    ] = False,
) -> None:
    """Add or change backup link N with the same KEY=VALUE pairs as 'tocsin settings
    set' (host=..., port=..., encryption=..., username=..., transport=online, ...).

    An online-service link is added in one step with its credential, never on the
    command line: 'tocsin settings failover link N transport=online
    relay_url=https://... --device-credential'.
    """
    changes: dict[str, object] = dict(_pairs(pairs, language))
    if credential:
        prompt = translate("cli_device_credential_prompt", language)
        changes["device_credential"] = read_secret(prompt, stdin=stdin, language=language)
    entries = run(data, lambda services: _link_changes(services, link, changes))
    _save(data, {"links": entries}, language)


@failover_app.command("password")
def set_password(
    link: LinkArgument,
    data: DataOption = None,
    language: LangOption = "en",
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the secret from stdin.")] = False,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the stored secret.")] = False,
    credential: Annotated[
        bool,
        typer.Option("--device-credential", help="The online service's device credential."),
    ] = False,
) -> None:
    """Set backup link N's SMTP password, or with --device-credential the online
    service's credential (asked without echo, or read from stdin)."""
    prompt = "cli_device_credential_prompt" if credential else "cli_password_prompt"
    secret = (
        "" if clear else read_secret(translate(prompt, language), stdin=stdin, language=language)
    )
    field = "device_credential" if credential else "password"
    changes: dict[str, object] = {field: secret or None}
    entries = run(data, lambda services: _link_changes(services, link, changes))
    _save(data, {"links": entries}, language)


@failover_app.command("remove")
def remove_link(link: LinkArgument, data: DataOption = None, language: LangOption = "en") -> None:
    """Remove backup link N; the links behind it move up."""

    def work(services: Services) -> list[dict[str, object]]:
        links = services.failover.load().links
        if link > len(links):
            fail(f"there is no backup link {link}")
        # Entries keep each remaining link as it is (its secrets included).
        return [link_fields(kept) for i, kept in enumerate(links) if i != link - 1]

    entries = run(data, work)
    _save(data, {"links": entries}, language)


def link_fields(settings: Any) -> dict[str, object]:
    """Every field of a link, secrets included, as changes that rebuild it."""
    from tocsin.settings import SECRET_FIELDS

    values = {k: v for k, v in settings.public().items() if not k.endswith("_set")}
    for name in SECRET_FIELDS:
        values[name] = getattr(settings, name)
    return values
