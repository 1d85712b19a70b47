"""`tocsin serve` as a user runs it: one process, HTTP in, real Postfix out."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from helpers import RealSMTP, wait_for_delivery

pytestmark = pytest.mark.postfix


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tocsin(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tocsin", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_serve_takes_an_event_and_delivers_it(tmp_path: Path, real_smtp: RealSMTP) -> None:
    env = {**os.environ, "TOCSIN_DATA": str(tmp_path / "data"), "NO_COLOR": "1"}
    _tocsin(
        env,
        "settings",
        "set",
        "enabled=true",
        "encryption=none",
        "host=127.0.0.1",
        f"port={real_smtp.plain_port}",
        "sender_address=alarm@example.com",
        "sender_name=Plant room",
        "ehlo_name=tocsin.test",
    )
    _tocsin(env, "group", "add", "site", "--name", "Site")
    _tocsin(env, "group", "add", "plant", "--name", "Plant room", "--parent", "site")
    _tocsin(
        env,
        "user",
        "add",
        "ops",
        "--name",
        "Ops",
        "--email",
        "ops@example.net",
        "--group",
        "site",
        "--category",
        "always",
    )
    token = _tocsin(env, "token", "create", "gateway").strip()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not answer within 20 s"
            time.sleep(0.1)
        answer = httpx.post(
            f"{base}/api/v1/events",
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
            json={
                "group": "plant",
                "device": "Leak sensor",
                "sensor": "Floor",
                "category": "always",
                "severity": "alarm",
                "state": "raised",
                "text": "Water on the floor",
            },
        )
        assert answer.status_code == 202, answer.text
        got = wait_for_delivery(real_smtp, lambda m: "Leak sensor" in str(m["Subject"]), timeout=15)
        assert "Plant room" in str(got["Subject"])
        assert got["Auto-Submitted"] == "auto-generated"
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "Traceback" not in output
