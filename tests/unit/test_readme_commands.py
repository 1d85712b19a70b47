"""The README calls the command one way throughout, and names what the test run installs."""

from __future__ import annotations

import re
from pathlib import Path

from tocsin.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _subcommands() -> list[str]:
    names = [c.name for c in app.registered_commands if c.name]
    names += [g.name for g in app.registered_groups if g.name]
    return names


def test_every_command_in_the_readme_is_called_as_dot_slash_tocsin() -> None:
    names = "|".join(map(re.escape, _subcommands()))
    assert len(_subcommands()) > 10
    bare = re.findall(rf"(?<![\w/.@-])tocsin (?:{names})\b[^\n]*", README)
    assert bare == []
    assert len(re.findall(rf"\./tocsin (?:{names})\b", README)) > 30


def test_the_wrapper_exists_and_runs_the_venvs_command() -> None:
    wrapper = ROOT / "tocsin"
    assert wrapper.stat().st_mode & 0o111
    assert 'exec "$ROOT/.venv/bin/tocsin" "$@"' in wrapper.read_text(encoding="utf-8")


def test_the_readme_names_what_the_test_command_installs() -> None:
    setup = README.split("\n## The web interface\n", 1)[0]
    for name in ("PostgreSQL", "Postfix", "swaks", "dnsmasq", "Alertmanager", "Chromium"):
        assert name in setup, name
    assert "second terminal" in setup
