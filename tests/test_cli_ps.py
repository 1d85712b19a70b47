"""``ps`` never shows a secret: each command that takes one asks for it on the terminal.

Run in a pseudo-terminal as a user would; while the command waits for the second entry
(the secret already typed once), ``/proc/<pid>/cmdline`` (what ``ps`` shows) holds the
command but not the secret.  ``tocsin online enroll`` has its own such test
(tests/relay/test_enrol_secrets.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import read_terminal_until
from tocsin.services.context import Services

SECRET = "Distinctive-Secret-4711"


def _password_saved(data: Path, _: Path) -> None:
    services = Services.open(data)
    try:
        password = services.settings.load().password
        assert password is not None
        assert password.reveal() == SECRET
    finally:
        services.close()


def _admin_created(data: Path, _: Path) -> None:
    services = Services.open(data)
    try:
        _, session = services.accounts.login("admin", SECRET, client="127.0.0.1")
        assert session.admin.username == "admin"
    finally:
        services.close()


def _backup_written(_: Path, backup: Path) -> None:
    assert backup.stat().st_size > 0


CASES: dict[str, tuple[list[str], bytes, Callable[[Path, Path], None]]] = {
    "settings password": (["settings", "password"], b"SMTP password:", _password_saved),
    "admin create": (["admin", "create"], b"Password for the new admin:", _admin_created),
    "backup": (["backup", "{backup}"], b"Passphrase for the secret key:", _backup_written),
}


@pytest.mark.parametrize("name", list(CASES))
def test_ps_shows_no_secret_while_the_command_asks_for_it(name: str, tmp_path: Path) -> None:
    args, prompt, check = CASES[name]
    data, backup = tmp_path / "data", tmp_path / "backup.tar"
    args = [a.replace("{backup}", str(backup)) for a in args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env["TOCSIN_DATA"] = str(data)
    services = Services.open(data)
    try:  # a password needs the account's name first
        assert services.settings.update({"username": "alarms@example.com"})[2]
    finally:
        services.close()
    terminal, child_side = os.openpty()
    # A session of its own: the pty is the only terminal the prompt can reach.
    process = subprocess.Popen(
        [sys.executable, "-m", "tocsin", *args],
        env=env, stdin=child_side, stdout=child_side, stderr=child_side, start_new_session=True,
    )  # fmt: skip
    os.close(child_side)
    try:
        deadline = time.monotonic() + 60
        shown = read_terminal_until(terminal, prompt, deadline)
        assert prompt in shown, shown
        os.write(terminal, SECRET.encode() + b"\n")
        shown += read_terminal_until(terminal, b"Again:", deadline)
        assert b"Again:" in shown, shown
        # The secret is in the process now; ps shows the command, never the secret.
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert b"\x00".join(a.encode() for a in args) in cmdline  # the right process, waiting
        assert SECRET.encode() not in cmdline
        os.write(terminal, SECRET.encode() + b"\n")
        shown += read_terminal_until(terminal, b"\x00never", deadline)
        assert process.wait(timeout=60) == 0, shown
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(terminal)
    assert SECRET.encode() not in shown  # typed without echo
    check(data, backup)
