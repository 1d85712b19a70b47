"""What `tocsin` prints: clean help, every line in the chosen language, JSON on --json.

Run as a user runs it (``python -m tocsin`` in a subprocess), plus an in-process walk
over every command's help screen.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from tocsin.cli import app
from tocsin.cli.helptext import plain_help, wants_json
from tocsin.i18n import translate
from tocsin.testing import ThreadedSMTPTestServer

# A type placeholder as typer prints it (<bool>, <path>, <list[str]>, <int range>),
# raw reStructuredText (``serve``), or rich markup that was not rendered ([bold]).
_UNCLEAN = re.compile(r"<[a-z][a-z_ \[\],]*>|``|\[/?(bold|red|green|cyan|yellow)\]")


class Run:
    """One finished ``tocsin`` run."""

    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        self.status = done.returncode
        self.stdout = done.stdout
        self.stderr = done.stderr

    def lines(self) -> list[str]:
        return [ln for ln in (self.stdout + self.stderr).splitlines() if ln.strip()]

    def json(self) -> Any:
        return json.loads(self.stdout)


def tocsin(data: Path, *args: str, stdin: str | None = None) -> Run:
    env = {**os.environ, "TOCSIN_DATA": str(data), "COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tocsin", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Run(done)


# ---------------------------------------------------------------- help


def _help_screens() -> list[tuple[str, str]]:
    root = plain_help(typer.main.get_command(app))
    screens: list[tuple[str, str]] = []

    def walk(command: Any, ctx: Any, path: str) -> None:
        screens.append((path, command.get_help(ctx)))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, command.context_class(sub, info_name=name, parent=ctx), f"{path} {name}")

    walk(root, root.context_class(root, info_name="tocsin"), "tocsin")
    return screens


def test_every_help_screen_is_plain_text() -> None:
    screens = _help_screens()
    assert len(screens) > 40  # the walk reached the subcommands
    unclean = {path: _UNCLEAN.findall(text) for path, text in screens if _UNCLEAN.search(text)}
    assert unclean == {}


def test_the_checker_sees_what_typer_prints_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    plain = typer.main.get_command(app)  # without plain_help: typer's own screens
    worker = plain.commands["worker"]  # type: ignore[attr-defined]
    # typer's rich screens print themselves rather than return the text
    text = worker.get_help(worker.context_class(worker, info_name="worker"))
    text += capsys.readouterr().out
    assert _UNCLEAN.search(text), text


def test_help_as_the_command_prints_it(tmp_path: Path) -> None:
    for args in (["--help"], ["worker", "--help"], ["settings", "set", "--help"]):
        done = tocsin(tmp_path, *args)
        assert done.status == 0, done.stderr
        assert "Usage: " in done.stdout
        assert not _UNCLEAN.search(done.stdout), done.stdout
    assert "--json " not in tocsin(tmp_path, "--help").stdout
    assert "('serve' runs it too)" in tocsin(tmp_path, "worker", "--help").stdout
    assert "--lang LANGUAGE" in tocsin(tmp_path, "test-email", "--help").stdout


def test_wants_json_reads_the_command_line() -> None:
    assert wants_json(["settings", "show", "--json"])
    assert not wants_json(["settings", "show"])
    assert not wants_json(["event", "raise", "--", "--json"])


# ---------------------------------------------------------------- languages


@pytest.mark.parametrize("language", ["en", "de"])
def test_test_email_with_email_off_says_so_in_the_language(tmp_path: Path, language: str) -> None:
    done = tocsin(tmp_path, "test-email", "--to", "ops@example.net", "--lang", language)
    assert done.status == 2
    need = translate("required_for_test", language)
    error = translate("cli_error", language)
    summary = translate("test_email_disabled_incomplete", language, fields="sender_address, host")
    assert done.lines() == [
        f"✗ {error} sender_address: {need}",
        f"✗ {error} host: {need}",
        f"✗ {summary}",
    ]
    assert "enabled=true" in summary
    assert "enabled=false" in summary


@pytest.mark.parametrize("language", ["en", "de"])
def test_refused_settings_in_the_language(tmp_path: Path, language: str) -> None:
    done = tocsin(tmp_path, "settings", "set", "port=x", "--lang", language)
    assert done.status == 2
    number = translate("invalid_number", language, low=1, high=65535)
    tip = f"i {translate('cli_tip', language)} enabled: {translate('disabled', language)}"
    assert done.lines() == [
        tip,  # stdout first, then stderr
        f"✗ {translate('cli_error', language)} port: {number}",
        f"✗ {translate('cli_nothing_saved_fix', language)}",
    ]
    done = tocsin(tmp_path, "settings", "set", "foo", "--lang", language)
    assert done.lines() == [f"✗ {translate('cli_not_key_value', language, pair='foo')}"]
    done = tocsin(tmp_path, "settings", "set", "sender_name=Plant", "--lang", language)
    assert done.status == 0
    assert done.lines() == [tip, f"✓ {translate('cli_saved', language)}"]


@pytest.mark.parametrize("language", ["en", "de"])
def test_admin_create_in_the_language(tmp_path: Path, language: str) -> None:
    args = ("admin", "create", "--stdin", "--lang", language)
    done = tocsin(tmp_path, *args, stdin="short\n")
    assert done.status == 2
    assert done.lines() == [f"✗ {translate('cli_admin_password_short', language, count=10)}"]
    done = tocsin(tmp_path, *args, stdin="a long admin password\n")
    assert done.status == 0
    assert done.lines() == [f"✓ {translate('cli_admin_created', language, username='admin')}"]


def test_german_and_english_texts_differ() -> None:
    codes = [
        "cli_error",
        "cli_nothing_saved_fix",
        "cli_saved",
        "required_for_test",
        "test_email_disabled_note",
        "test_email_not_delivered",
        "cli_admin_password_short",
        "next_step_setup",
        "next_step_email",
        "database_readable_by_others",
    ]
    params = {"count": 10, "url": "u", "path": "p", "command": "c"}  # every placeholder
    same = [c for c in codes if translate(c, "en", **params) == translate(c, "de", **params)]
    assert same == []


def test_a_test_while_email_is_off_goes_through_and_says_how_to_enable(tmp_path: Path) -> None:
    with ThreadedSMTPTestServer() as smtp:
        done = tocsin(
            tmp_path,
            "settings",
            "set",
            "host=127.0.0.1",
            f"port={smtp.port}",
            "encryption=none",
            "sender_address=alarm@example.com",
        )
        assert done.status == 0, done.stderr
        for language in ("en", "de"):
            done = tocsin(tmp_path, "test-email", "--to", "ops@example.net", "--lang", language)
            assert done.status == 0, done.stdout + done.stderr
            assert done.lines()[-1] == f"! {translate('test_email_disabled_note', language)}"
        done = tocsin(tmp_path, "test-email", "--to", "ops@example.net", "--json")
        assert done.status == 0
        assert done.json()["notes"] == [translate("test_email_disabled_note", "en")]
        assert len(smtp.messages) == 3


# ---------------------------------------------------------------- --json on errors


def test_json_on_stdout_when_the_test_email_is_refused(tmp_path: Path) -> None:
    done = tocsin(tmp_path, "test-email", "--to", "ops@example.net", "--json", "--lang", "de")
    assert done.status == 2
    report = done.json()
    assert report["ok"] is False
    assert report["enabled"] is False
    assert "enabled=true" in report["error"]
    assert [(i["field"], i["code"]) for i in report["issues"]] == [
        ("sender_address", "required"),
        ("host", "required"),
    ]
    assert report["issues"][0]["message"] == translate("required_for_test", "de")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["test-email", "--to", "no-at-sign", "--json"], "--to: "),
        (["test-email", "--json"], "Missing option '--to'"),
        (["group", "list", "--json", "--bogus"], "No such option: --bogus"),
    ],
)
def test_json_on_stdout_for_any_refusal(tmp_path: Path, args: list[str], expected: str) -> None:
    done = tocsin(tmp_path, *args)
    assert done.status == 2
    report = done.json()
    assert report["ok"] is False
    assert report["exit_status"] == 2
    assert any(expected in line for line in report["errors"]), report
    assert expected in done.stderr  # the text still goes to stderr as well


def test_json_on_stdout_when_the_store_refuses(tmp_path: Path) -> None:
    assert tocsin(tmp_path, "settings", "show", "--json").status == 0
    (tmp_path / "secret.key").chmod(0o644)  # a key others can read is refused
    done = tocsin(tmp_path, "settings", "show", "--json")
    assert done.status == 2
    (line,) = done.json()["errors"]
    assert "chmod 600" in line
    assert not line.startswith("✗")
