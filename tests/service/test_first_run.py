"""The first minutes with `tocsin serve`: private files, and the next step printed.

A fresh data directory is the owner's alone (0700, database and WAL/SHM 0600, backups
0600); a database someone made world-readable gets one warning line naming the
command that fixes it; serve says what to do next (create the first administrator,
enable email) and stops saying it once that is done.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from pathlib import Path

from service_support import start_worker

from helpers import serving, tocsin_cli


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TOCSIN_COMMAND"}
    return {**env, "TOCSIN_DATA": str(data), "NO_COLOR": "1", "COLUMNS": "200"}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_directory_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = _env(data)
    old = os.umask(0o022)  # the usual umask, which would leave the files 0644
    try:
        with serving(env):
            assert _mode(data) == 0o700
            for name in ("tocsin.db", "tocsin.db-wal", "tocsin.db-shm", "secret.key"):
                assert _mode(data / name) == 0o600, name
        tocsin_cli(env, "backup", str(tmp_path / "site.tar.gz"), "--without-key")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "site.tar.gz") == 0o600


def test_a_world_readable_database_gets_a_warning(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = _env(data)
    tocsin_cli(env, "settings", "show")
    database = data / "tocsin.db"
    database.chmod(0o644)
    with serving(env) as running:
        running.wait_for_output("listening on")
    lines = [ln for ln in running.output().splitlines() if "other users" in ln]
    assert len(lines) == 1, running.output()
    assert f"chmod 600 {database}" in lines[0]
    database.chmod(0o600)
    with serving(env) as running:
        running.wait_for_output("listening on")
    assert "other users" not in running.output()


def test_serve_names_the_next_step_until_it_is_done(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    with serving(env) as running:
        running.wait_for_output("Email is off")
        url = running.url
    output = running.output()
    assert f"Next step: open {url}/setup to create the first administrator" in output
    assert "(or run 'tocsin admin create' in a second terminal)" in output
    assert f"enable it at {url}/settings/email" in output
    assert "(or: tocsin settings set … enabled=true)" in output

    # ./scripts/serve names the checkout's wrapper, which is what the README calls.
    with serving({**env, "TOCSIN_COMMAND": "./tocsin"}) as running:
        running.wait_for_output("Email is off")
    assert "(or run './tocsin admin create' in a second terminal)" in running.output()
    assert "(or: ./tocsin settings set … enabled=true)" in running.output()

    tocsin_cli(env, "admin", "create", "--stdin", stdin="a long admin password\n")
    with serving(env) as running:
        running.wait_for_output("Email is off")
    assert "Next step" not in running.output()

    tocsin_cli(
        env,
        "settings",
        "set",
        "enabled=true",
        "host=127.0.0.1",
        "encryption=none",
        "sender_address=alarm@example.com",
    )
    with serving(env) as running:
        running.wait_for_output("listening on")
    assert "Next step" not in running.output()
    assert "Email is off" not in running.output()


def test_scripts_serve_says_it_stays_in_the_foreground(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    text = (root / "scripts" / "serve").read_text(encoding="utf-8")
    said = [ln for ln in text.splitlines() if ln.startswith("echo ")]
    assert any("foreground" in ln and "second terminal" in ln for ln in said), said
    assert "export TOCSIN_COMMAND=./tocsin" in text
    # The ./tocsin wrapper runs the checkout's command.
    done = subprocess.run(
        [str(root / "tocsin"), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout


def test_the_worker_warns_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = _env(data)
    tocsin_cli(env, "settings", "show")
    (data / "tocsin.db").chmod(0o640)  # group-readable is readable by others too
    worker = start_worker(env)
    try:
        assert worker.stdout is not None
        lines = []
        for line in worker.stdout:
            lines.append(line)
            if "delivering" in line:
                break
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        assert worker.stdout is not None
        worker.stdout.close()
    warned = [ln for ln in lines if "other users" in ln]
    assert len(warned) == 1, lines
    assert f"chmod 600 {data / 'tocsin.db'}" in warned[0]
