"""The systemd unit Tocsin ships: systemd's own checker accepts it, and it is hardened."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from helpers import tocsin_cli
from tocsin.deploy.systemd import UNIT_NAME, unit_text

HARDENING = (
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "NoNewPrivileges=yes",
    "ReadWritePaths=/var/lib/tocsin",
    "StateDirectory=tocsin",
    "User=tocsin",
    "Type=notify",
    "TimeoutStopSec=30",
)


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:  # scripts/test installs Debian's systemd package when it is missing
        pytest.fail("systemd-analyze is missing: apt-get install systemd (scripts/test does)")
    return found


def _unit_file(tmp_path: Path, *args: str) -> Path:
    """``tocsin systemd-unit ARGS`` written where systemd-analyze can read it."""
    text = tocsin_cli({"PATH": "/usr/bin:/bin", "NO_COLOR": "1"}, "systemd-unit", *args)
    path = tmp_path / UNIT_NAME
    path.write_text(text)
    return path


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    unit = _unit_file(tmp_path)
    done = subprocess.run(
        [_analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=120, check=False
    )
    # verify only warns (exit 0) about unknown keys: any output at all is a failure.
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_systemd_analyze_finds_the_unit_well_protected(tmp_path: Path) -> None:
    unit = _unit_file(tmp_path)
    done = subprocess.run(
        [_analyze(), "security", "--offline=true", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr  # exposure at most 2.0 of 10
    assert "Overall exposure level" in done.stdout


def test_the_unit_runs_this_installation_hardened(tmp_path: Path) -> None:
    text = _unit_file(tmp_path, "--host", "192.0.2.10", "--port", "8080").read_text()
    (exec_start,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    program = exec_start.removeprefix("ExecStart=").split()[0]
    assert Path(program).is_file(), exec_start
    assert Path(program).parent == Path(sys.executable).parent
    assert exec_start.endswith(" serve --host 192.0.2.10 --port 8080")
    for line in HARDENING:
        assert line in text.splitlines(), line


def test_the_unit_is_package_data_and_refuses_a_bad_host() -> None:
    shipped = resources.files("tocsin.deploy").joinpath(UNIT_NAME).read_text(encoding="utf-8")
    assert "ExecStart=/usr/local/bin/tocsin serve" in shipped
    with pytest.raises(ValueError, match="not a host"):
        unit_text(host="127.0.0.1; rm -rf /")
