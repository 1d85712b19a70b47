"""`tocsin` starts with only what the command it runs needs (tocsin.cli.commands).

The root group holds stand-ins (name and summary) and imports a command's module when
the command line names it.  These tests check that what it shows is what the real
commands show, and that a run does not import what it does not need: the web stack,
the SMTP wire, the OAuth2 client, the store.  Speed itself is measured, not asserted
(the figures are in the commit messages).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from tocsin.cli import app
from tocsin.cli.commands import COMMANDS, lazy_app
from tocsin.cli.helptext import plain_help

# ---------------------------------------------------------------- the stand-ins


def _roots() -> tuple[Any, Any]:
    full = plain_help(typer.main.get_command(app))
    lazy = plain_help(typer.main.get_command(lazy_app()))
    return full, lazy


def test_the_table_lists_every_command_of_the_app_in_its_order() -> None:
    names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert names == [entry.name for entry in COMMANDS]
    full, lazy = _roots()
    assert list(lazy.commands) == list(full.commands)
    assert len(full.commands) > 15


@pytest.mark.parametrize("width", [20, 45, 60, 80, 94, 120])
def test_each_stand_in_has_the_real_commands_summary(width: int) -> None:
    # What `tocsin --help` and shell completion list for each command, at any width.
    full, lazy = _roots()
    for name, real in full.commands.items():
        stand_in = lazy.commands[name]
        assert stand_in.get_short_help_str(width) == real.get_short_help_str(width), name
        assert (stand_in.hidden, stand_in.deprecated) == (real.hidden, real.deprecated), name


def _pages(command: Any, ctx: Any, path: str) -> dict[str, str]:
    pages = {path: command.get_help(ctx)}
    for name, sub in getattr(command, "commands", {}).items():
        sub_ctx = command.context_class(sub, info_name=name, parent=ctx)
        pages |= _pages(sub, sub_ctx, f"{path} {name}")
    return pages


def test_every_help_page_of_the_lazy_command_is_the_full_ones() -> None:
    full, lazy = _roots()
    ctx = lazy.context_class(lazy, info_name="tocsin")
    for name in list(lazy.commands):  # as the command line names them: the real ones come in
        found, command, rest = lazy.resolve_command(ctx, [name, "--help"])
        assert (found, rest) == (name, ["--help"])
        assert command is lazy.commands[name]
        assert lazy.resolve_command(ctx, [name])[1] is command  # loaded once
    expected = _pages(full, full.context_class(full, info_name="tocsin"), "tocsin")
    assert len(expected) > 60
    assert _pages(lazy, lazy.context_class(lazy, info_name="tocsin"), "tocsin") == expected


def test_the_root_help_is_the_same_before_and_after_loading() -> None:
    _, lazy = _roots()
    before = lazy.get_help(lazy.context_class(lazy, info_name="tocsin"))
    ctx = lazy.context_class(lazy, info_name="tocsin")
    for name in list(lazy.commands):
        lazy.resolve_command(ctx, [name])
    assert lazy.get_help(lazy.context_class(lazy, info_name="tocsin")) == before
    assert "settings" in before
    assert "systemd-unit" in before


# ---------------------------------------------------------------- what a run imports

# Never needed to show help or to run a command of the CLI that is not `serve`.
WEB_AND_WIRE = (
    "fastapi",
    "starlette",
    "uvicorn",
    "aiosmtplib",
    "authlib",
    "httpx",
    "httpx2",
    "dns",
    "paho",
    "psycopg",
    "tocsin.api",
    "tocsin.web",
    "tocsin.app",
    "tocsin.transports.smtp",
    "tocsin.signin.client",
    "tocsin.providers.discovery",
    "tocsin.intake.mqtt.service",
    "tocsin.relay.service",
)
# Loaded on first use, not when the data directory is opened: the email templates
# (Jinja2), the site file (YAML), password hashing (Argon2), certificates (x509), address
# checks (email-validator).
ON_FIRST_USE = ("jinja2", "yaml", "argon2", "cryptography.x509", "email_validator")
# Command modules one command's module imports from another (the rest it may not).
ALSO = {
    "group": {"tocsin.cli.sites", "tocsin.cli.events"},  # escalation adds to sites' group_app
    "user": {"tocsin.cli.events"},  # the --category option
    "site": {"tocsin.cli.events"},
    "test-email": {"tocsin.cli.settings"},  # --set parsed as by 'tocsin settings set'
    "serve": {"tocsin.cli.systemd_unit"},  # --host and --port
}
# What a command needs once it opens the data directory, not before.
DATA = ("sqlite3", "tocsin.store", "tocsin.services.context", "tocsin.outbox.engine")

_PROBE = """
import json, sys
from tocsin.cli import main
sys.argv = ["tocsin", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _env(data: Path) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    return kept | {"COLUMNS": "100", "TOCSIN_DATA": str(data)}


def _loaded(*args: str, cwd: Path) -> set[str]:
    """The modules a ``tocsin ARGS`` run has imported when it ends."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=_env(cwd / "data"),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def _among(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in names))


def test_the_root_help_imports_no_command_module(tmp_path: Path) -> None:
    loaded = _loaded("--help", cwd=tmp_path)
    assert "tocsin.cli.commands" in loaded  # the probe ran the CLI
    assert _among(loaded, WEB_AND_WIRE + ON_FIRST_USE + DATA) == []
    commands = {entry.module for entry in COMMANDS} | {"tocsin.cli.sites"}
    assert sorted(loaded & commands) == []
    assert _among(loaded, ("tocsin.model", "tocsin.services", "tocsin.settings")) == []
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("entry", COMMANDS, ids=lambda entry: entry.name)
def test_a_commands_help_imports_its_module_and_not_the_others(entry: Any, tmp_path: Path) -> None:
    loaded = _loaded(entry.name, "--help", cwd=tmp_path)
    assert entry.module in loaded
    assert _among(loaded, WEB_AND_WIRE + ON_FIRST_USE) == []
    # The store comes with serve's disk options (tocsin.services.disk), with nothing else.
    needs_store = entry.name == "serve"
    assert bool(_among(loaded, ("sqlite3", "tocsin.store"))) is needs_store
    assert _among(loaded, ("tocsin.services.context",)) == []
    others = {e.module for e in COMMANDS} - {entry.module} - ALSO.get(entry.name, set())
    assert sorted(loaded & others) == []
    assert not (tmp_path / "data").exists()


def test_opening_the_data_directory_imports_no_web_no_wire_no_templates(
    tmp_path: Path,
) -> None:
    loaded = _loaded("settings", "show", cwd=tmp_path)
    assert (tmp_path / "data" / "tocsin.db").exists()  # it did open the store
    assert "tocsin.services.context" in loaded
    assert _among(loaded, WEB_AND_WIRE + ON_FIRST_USE) == []
