"""What the commands share: consoles, options, opening the store, reports, secrets.

:func:`open_services` opens the services of the data directory and ends the command
with one line when it cannot (exit status 2 for a refused setting, 1 otherwise);
:func:`run` runs one piece of work and turns refused input into field-named messages
(``--time-zone: Unknown time zone``) with exit status 2.
"""

from __future__ import annotations

import getpass
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape

from tocsin.deploy.logs import LogFormat, configure_logging
from tocsin.errors import ConfigError, MissingExtra, SchemaError, StorageFull

if TYPE_CHECKING:
    from tocsin.services.context import Services
    from tocsin.validation import Report

# Every command imports this module, ``tocsin --help`` too: the services, the store and
# the domain types are imported where a command first needs them, not here.

__all__ = [
    "DataOption",
    "DatabaseOption",
    "JsonOption",
    "LangOption",
    "LogFormatOption",
    "LogLevelOption",
    "err",
    "fail",
    "open_services",
    "out",
    "print_report",
    "read_secret",
    "refuse_database_password",
    "run",
    "start_logging",
]

T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DataOption = Annotated[
    Path | None,
    typer.Option("--data", envvar="TOCSIN_DATA", help="Data directory (default: ./tocsin-data)."),
]


def _has_password(url: str) -> bool:
    try:
        if urlsplit(url).password is not None:
            return True
    except ValueError:
        pass
    return "password=" in url.lower()  # libpq's key=value form, or ?password=


def refuse_database_password(
    ctx: typer.Context, param: typer.CallbackParam, value: str | None
) -> str | None:
    """Refuse a database URL with a password typed on the command line, where ``ps``
    and the shell history show it; from the environment it is taken."""
    source = ctx.get_parameter_source(param.name or "")
    # Compared by name: typer's vendored click has its own ParameterSource enum.
    typed = source is not None and source.name == "COMMANDLINE"
    if value and typed and _has_password(value):
        names = [*(param.envvar if isinstance(param.envvar, list) else [param.envvar])]
        envvar = " or ".join(str(n) for n in names if n) or "PGPASSWORD"
        from tocsin.i18n import translate

        fail(translate("secret_in_database_url", "en", envvar=envvar))
    return value


DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar="TOCSIN_DATABASE_URL",
        callback=refuse_database_password,
        help="postgresql:// URL (a password: in TOCSIN_DATABASE_URL or ~/.pgpass).",
    ),
]
LangOption = Annotated[str, typer.Option("--lang", help="Language of messages: en or de.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        envvar="TOCSIN_LOG_FORMAT",
        help="Log lines as text or as JSON objects (one line per event either way).",
    ),
]
LogLevelOption = Annotated[
    str,
    typer.Option("--log-level", envvar="TOCSIN_LOG_LEVEL", help="debug, info, warning or error."),
]


def fail(message: str) -> NoReturn:
    """Print ``message`` as an error and exit with status 2 (refused input)."""
    err.print(f"[red]✗[/] {message}", markup=True)
    raise typer.Exit(2)


_OPTION_FIELD = re.compile(r"[a-z_]+(\[\d+\])?")
_OPTIONS = {
    "categories": "--category",
    "groups": "--group",
    "client_event_id": "--client-id",
    "quiet_hours": "WINDOW",
}


def _field(name: str) -> str:
    """The CLI option for a field (``time_zone`` → ``--time-zone``, ``categories[1]`` →
    ``--category``); nested fields (from a site file) as they are."""
    base = name.partition("[")[0]
    if not _OPTION_FIELD.fullmatch(name) or name in ("body", "file"):
        return name or "input"
    return _OPTIONS.get(base, "--" + base.replace("_", "-"))


def open_services(data: Path | None, database_url: str | None = None) -> Services:
    """The services of ``data`` (and ``database_url``), or the end of the command with one
    line saying why not: exit status 2 for a refused setting, 1 for a store that cannot be
    opened (a newer Tocsin's database, an unreadable file, a server that does not answer).
    A missing extra and a full disk go on to :func:`tocsin.cli.run`, which says them."""
    from tocsin.services.context import Services

    try:
        return Services.open(data, database_url=database_url)
    except (MissingExtra, StorageFull):
        raise
    except ConfigError as exc:
        err.print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except SchemaError as exc:  # a newer Tocsin wrote the database: its message says so
        err.print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    except Exception as exc:  # a store that cannot be opened: say why, no traceback
        err.print(f"[red]✗[/] cannot open the store: {escape(str(exc))}")
        raise typer.Exit(1) from None


@contextmanager
def _services(data: Path | None) -> Iterator[Services]:
    services = open_services(data)
    try:
        yield services
    finally:
        services.close()


_MARK = {
    "error": ("[red]✗ {}[/]", "cli_error"),
    "warning": ("[yellow]! {}[/]", "cli_warning"),
    "tip": ("[cyan]i {}[/]", "cli_tip"),
}
"""Per issue level (:class:`tocsin.validation.Level`), its mark and the mark's word."""


def print_report(report: Report, language: str) -> None:
    """Each issue of ``report`` on a line of its own, named by field: errors on stderr,
    warnings and tips on stdout, the marks' words in ``language``."""
    from tocsin.i18n import translate
    from tocsin.validation import Level

    for issue in report.issues:
        console = err if issue.level is Level.ERROR else out
        style, word = _MARK[issue.level.value]
        mark = style.format(translate(word, language))
        console.print(f"{mark} [bold]{issue.field}[/]: {escape(issue.text(language))}")


def read_secret(prompt: str, *, stdin: bool, language: str, confirm: bool = False) -> str:
    """A secret from the first line of stdin (``--stdin``, or stdin not a terminal), else
    asked without echo (twice with ``confirm``: entries that differ end with exit 2)."""
    from tocsin.i18n import translate

    if stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    secret = getpass.getpass(prompt)
    if confirm and getpass.getpass(translate("cli_again", language)) != secret:
        err.print(f"[red]✗[/] {translate('cli_entries_differ', language)}")
        raise typer.Exit(2)
    return secret


def run(data: Path | None, work: Callable[[Services], T]) -> T:
    """Run ``work``; refused input and unknown ids end with a clear message and exit 2."""
    from tocsin.services.inputs import InputRefused
    from tocsin.services.sites import NotFound

    with _services(data) as services:
        try:
            return work(services)
        except InputRefused as exc:
            for issue in exc.issues:
                err.print(f"[red]✗[/] [bold]{_field(issue.field)}[/]: {issue.text('en')}")
            fail("Nothing was changed.")
        except NotFound as exc:
            fail(f"{exc} (see 'tocsin {exc.what} list').")


def start_logging(fmt: LogFormat, level: str) -> None:
    """Set up the logs of a long-running command; a bad level ends with exit status 2."""
    try:
        configure_logging(fmt, level=level)
    except ValueError as exc:
        fail(f"--log-level: {exc}")
