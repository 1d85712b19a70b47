"""Plain ``--help`` screens, and JSON on stdout whenever ``--json`` was asked for.

:func:`plain_help` gives every parameter of a command tree a plain placeholder:
none for a flag (typer would show ``<bool>``), the choices for a choice
(``text|json``), the parameter's name in capitals for any other value (``--data
DATA``, ``FILE``), so help shows no type annotations such as ``<list[str]>``.

:func:`json_errors` makes a command run with ``--json`` print a JSON object on stdout
even when it fails before printing its own: the error lines (which still go to stderr
as text) as ``{"ok": false, "exit_status": N, "errors": [...]}``.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Any, TextIO

__all__ = ["json_errors", "plain_help", "wants_json"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MARK = re.compile(r"^[✗!i]\s+")


def _choices(param: Any) -> list[str] | None:
    """The values a choice parameter takes (typer's own or click's parameter type)."""
    described = getattr(param, "type_descriptor", None)
    if described is not None:
        found = described.choices if described.is_choice else None
    else:
        found = getattr(getattr(param, "type", None), "choices", None)
    if not found:
        return None
    return [str(c.value if isinstance(c, Enum) else c) for c in found]


def _placeholder(param: Any) -> str:
    if getattr(param, "is_flag", False):
        return ""
    choices = _choices(param)
    return "|".join(choices) if choices else (param.name or "value").upper()


def _no_type(ctx: Any) -> None:
    return None


def plain_help(command: Any) -> Any:
    """Set a plain placeholder on each parameter of ``command`` (a click command, as
    typer builds it) and its subcommands, where none was chosen; returns ``command``."""
    if hasattr(command, "rich_markup_mode"):
        # Plain text: typer's rich panels show each parameter's Python type
        # (``<bool>``, ``<list[str]>``) whatever placeholder it has.
        command.rich_markup_mode = None
    for param in command.params:
        if param.metavar is None:
            param.metavar = _placeholder(param)
        if getattr(param, "param_type_name", "") == "argument":
            # typer shows an argument's Python type (``ID <str>``) beside its name.
            param.display_type_rich = _no_type
    settings = getattr(command, "context_settings", None)
    if isinstance(settings, dict):
        settings.setdefault("max_content_width", 100)  # command summaries cut less often
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)
    return command


def wants_json(args: list[str]) -> bool:
    """True when the command line asks for JSON output (``--json`` before any ``--``)."""
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


class _Tee(io.TextIOBase):
    """Writes through to ``target`` and remembers what was written."""

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target
        self.seen = io.StringIO()

    def write(self, text: str) -> int:
        self.seen.write(text)
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", None) or "utf-8"

    def fileno(self) -> int:
        return self.target.fileno()


def _lines(text: str) -> list[str]:
    lines = (_MARK.sub("", _ANSI.sub("", line)).strip() for line in text.splitlines())
    return [line for line in lines if line]


@contextmanager
def json_errors() -> Iterator[None]:
    """Within the block: if it ends with a non-zero exit status and nothing on stdout,
    print the error lines as one JSON object on stdout."""
    stdout, stderr = sys.stdout, sys.stderr
    out_tee, err_tee = _Tee(stdout), _Tee(stderr)
    sys.stdout, sys.stderr = out_tee, err_tee
    status: int | str | None = 0
    try:
        yield
    except SystemExit as exc:
        status = exc.code
        raise
    except BaseException:
        status = 1
        raise
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        code = status if isinstance(status, int) else (1 if status else 0)
        if code != 0 and not out_tee.seen.getvalue().strip():
            errors = _lines(err_tee.seen.getvalue()) or [str(status)]
            document = {"ok": False, "exit_status": code, "errors": errors}
            stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
            stdout.flush()
