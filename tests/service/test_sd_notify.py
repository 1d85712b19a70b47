"""`tocsin serve` under Type=notify: READY=1 once the port answers, STOPPING=1 on SIGTERM,
WATCHDOG=1 while it runs; a real unix datagram socket stands in for systemd."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_support import service_env

from helpers import start_serve
from tocsin.deploy.systemd import notify, watchdog_interval


@pytest.fixture
def systemd() -> Iterator[socket.socket]:
    """A bound datagram socket, as systemd's notify socket (a short path: AF_UNIX limit)."""
    where = Path(tempfile.mkdtemp(prefix="tocsin-notify-"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        listener.bind(str(where / "notify"))
        yield listener
    finally:
        listener.close()
        (where / "notify").unlink(missing_ok=True)
        where.rmdir()


def _receive(listener: socket.socket, wanted: str, timeout: float) -> list[str]:
    """Datagrams until one holds the line ``wanted``; every one received, in order."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while not any(wanted in message.splitlines() for message in got):
        left = deadline - time.monotonic()
        assert left > 0, f"no {wanted} within {timeout} s (got {got})"
        listener.settimeout(left)
        try:
            got.append(listener.recv(4096).decode())
        except TimeoutError:
            continue
    return got


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_ready_when_the_port_answers_stopping_on_sigterm(
    tmp_path: Path, systemd: socket.socket
) -> None:
    env = service_env(
        tmp_path / "data", NOTIFY_SOCKET=systemd.getsockname(), WATCHDOG_USEC="400000"
    )
    running = start_serve(env)
    port = int(running.url.rsplit(":", 1)[1])
    try:
        first = _receive(systemd, "READY=1", timeout=30)
        assert _answers(port), "READY=1 came before the port took connections"
        assert httpx.get(f"{running.url}/healthz", timeout=10).status_code == 200
        assert first[-1].splitlines() == ["READY=1", f"STATUS=Listening on {running.url}"]
        # Watchdog pings every half WATCHDOG_USEC while the event loop runs.
        pings = _receive(systemd, "WATCHDOG=1", timeout=5)
        pings += _receive(systemd, "WATCHDOG=1", timeout=5)
        assert sum(p == "WATCHDOG=1" for p in first + pings) >= 2
        running.process.send_signal(signal.SIGTERM)
        _receive(systemd, "STOPPING=1", timeout=10)
    finally:
        status = running.stop(timeout=30)
    assert status == 0, running.output()
    assert "Traceback" not in running.output()


def test_notify_reaches_an_abstract_socket_and_never_raises() -> None:
    name = f"tocsin-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        listener.settimeout(5)
        assert notify("READY=1", environ={"NOTIFY_SOCKET": f"@{name}"})
        assert listener.recv(100) == b"READY=1"
    assert not notify("READY=1", environ={})  # not under systemd: nothing to do
    assert not notify("READY=1", environ={"NOTIFY_SOCKET": "/nonexistent/notify"})
    assert not notify("READY=1", environ={"NOTIFY_SOCKET": "vsock:2:1234"})


def test_the_watchdog_is_ours_only_for_our_pid() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    mine = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(mine) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({}) is None
