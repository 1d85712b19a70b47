"""The ``tocsin`` command: everything an admin does from a shell.

A face: it parses, calls a service, presents.  Exit status 0 on success, 1 when an
operation failed (a test email that did not go through), 2 for refused input, 75
(``EX_TEMPFAIL``) when the disk is full: nothing was stored, try again later.

The commands are listed in :mod:`tocsin.cli.commands`; :func:`main` imports only the
module of the command it runs.  ``tocsin.cli.app`` is the whole command with every
command registered, built when first asked for.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from tocsin.cli.commands import full_app, lazy_app
from tocsin.cli.helptext import json_errors, plain_help, wants_json
from tocsin.cli.support import err
from tocsin.errors import MissingExtra, StorageFull

if TYPE_CHECKING:
    app: typer.Typer
    """Every command registered (see :func:`tocsin.cli.commands.full_app`)."""

__all__ = ["EX_TEMPFAIL", "app", "main", "run"]

EX_TEMPFAIL = 75
"""sysexits.h: a temporary failure; the user is invited to retry (a full disk)."""


def main() -> None:
    """Entry point of the ``tocsin`` script."""
    run(lazy_app())


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


if not TYPE_CHECKING:  # type checkers see the declaration above

    def __getattr__(name: str) -> Any:
        """``app``, built with every command on first use (PEP 562)."""
        if name != "app":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = globals()["app"] = full_app()
        return value
