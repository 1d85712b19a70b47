"""Secrets stay off the command line: ``ps`` and the shell history never see the device
credential, and ``settings set`` refuses every secret as KEY=VALUE."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_support import InProcessRelay, serve_options
from typer.testing import CliRunner

from helpers import read_terminal_until
from tocsin.cli import app
from tocsin.relay.records import Device
from tocsin.relay.service import RelayService
from tocsin.services.context import Services
from tocsin.settings import TransportKind
from tocsin.testing import TestCA

TOCSIN = Path(sys.executable).with_name("tocsin")


@pytest.fixture
def relay(service: RelayService, relay_cert: Path) -> Iterator[InProcessRelay]:
    running = InProcessRelay(service, serve_options(relay_cert, worker=False)).start()
    yield running
    running.stop()


def _enrolled_device(data: Path) -> str | None:
    services = Services.open(data)
    try:
        settings = services.settings.load()
    finally:
        services.close()
    assert settings.transport is TransportKind.ONLINE
    return settings.device_id


def test_enrol_asks_without_echo_and_ps_never_shows_the_credential(
    relay: InProcessRelay, ca: TestCA, device: tuple[str, Device], tmp_path: Path
) -> None:
    credential, record = device
    data = tmp_path / "appliance"
    command = [str(TOCSIN), "online", "enroll", relay.api_url]
    command += ["--ca-file", str(ca.ca_path), "--data", str(data)]
    terminal, child_side = os.openpty()
    # A session of its own: the pty is the only terminal the prompt can reach.
    process = subprocess.Popen(
        command, stdin=child_side, stdout=child_side, stderr=child_side, start_new_session=True
    )
    os.close(child_side)
    try:
        deadline = time.monotonic() + 60
        shown = read_terminal_until(terminal, b"Device credential:", deadline)
        assert b"Device credential:" in shown, shown
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert relay.api_url.encode() in cmdline  # the right process, still waiting
        assert credential.encode() not in cmdline
        assert b"tcr_" not in cmdline
        os.write(terminal, credential.encode() + b"\n")
        shown += read_terminal_until(terminal, b"\x00never", deadline)
        assert process.wait(timeout=60) == 0, shown
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(terminal)
    assert credential.encode() not in shown  # typed without echo
    assert b"Enrolled as device" in shown
    assert _enrolled_device(data) == record.name


def test_enrol_reads_stdin_or_a_private_file_and_refuses_an_argument(
    relay: InProcessRelay, ca: TestCA, device: tuple[str, Device], tmp_path: Path
) -> None:
    credential, record = device
    runner = CliRunner()
    base = ["online", "enroll", relay.api_url, "--ca-file", str(ca.ca_path)]

    as_argument = runner.invoke(app, [*base, credential, "--data", str(tmp_path / "a")])
    assert as_argument.exit_code == 2
    assert "not taken as an argument" in as_argument.output
    assert "--token-file" in as_argument.output
    german = runner.invoke(app, [*base, credential, "--lang", "de"])
    assert german.exit_code == 2
    assert "nicht als Argument" in german.output

    token_file = tmp_path / "credential"
    token_file.write_text(credential + "\n", encoding="utf-8")
    token_file.chmod(0o644)
    shared = runner.invoke(app, [*base, "--token-file", str(token_file), "--data", str(tmp_path)])
    assert shared.exit_code == 2
    assert "chmod 600" in shared.output
    token_file.chmod(0o600)
    by_file = runner.invoke(
        app, [*base, "--token-file", str(token_file), "--data", str(tmp_path / "f")]
    )
    assert by_file.exit_code == 0, by_file.output
    assert _enrolled_device(tmp_path / "f") == record.name

    by_stdin = runner.invoke(
        app, [*base, "--stdin", "--data", str(tmp_path / "s")], input=credential + "\n"
    )
    assert by_stdin.exit_code == 0, by_stdin.output
    assert _enrolled_device(tmp_path / "s") == record.name
    empty = runner.invoke(app, [*base, "--stdin", "--data", str(tmp_path / "e")], input="\n")
    assert empty.exit_code == 2
    assert "Nothing was entered" in empty.output


@pytest.mark.parametrize(
    ("pair", "language", "expected"),
    [
        ("device_credential=tcr_abc", "en", "tocsin online enroll URL"),
        ("password=hunter22", "en", "tocsin settings password"),
        ("device_credential=tcr_abc", "de", "Verwenden Sie 'tocsin online enroll URL'"),
    ],
)
def test_settings_set_refuses_every_secret(
    pair: str, language: str, expected: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["settings", "set", "enabled=false", pair, "--data", str(tmp_path), "--lang", language]
    )
    assert result.exit_code == 2
    assert expected in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("command", "envvar"),
    [
        (["outbox", "list"], "TOCSIN_DATABASE_URL"),
        (["relay", "device", "list"], "TOCSIN_RELAY_DATABASE"),
    ],
)
def test_a_database_password_is_refused_on_the_command_line(
    command: list[str], envvar: str
) -> None:
    url = "postgresql://tocsin:s3cret-pw@127.0.0.1:1/tocsin"
    refused = CliRunner().invoke(app, [*command, "--database", url])
    assert refused.exit_code == 2
    assert envvar in refused.output
    assert "s3cret-pw" not in refused.output
    keyword = "host=127.0.0.1 password=s3cret-pw"
    assert CliRunner().invoke(app, [*command, "--database", keyword]).exit_code == 2
