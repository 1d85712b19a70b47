"""Real SMTP clients from Debian packages, run against our SMTP servers in the tests.

- `Alertmanager`: ``prometheus-alertmanager`` (scripts/alertmanager/install.sh), on
  127.0.0.1 with a generated config whose one receiver is an email address.  Its Go SMTP
  code is the strict one: AUTH LOGIN must challenge ``Username:`` / ``Password:``.
- `swaks`: the SMTP Swiss army knife (installed with the real Postfix).
- `ServerTranscript`: what an aiosmtpd server in this process read and answered, from
  aiosmtpd's own log (commands with AUTH data masked; replies) - to count AUTH attempts.

Every wait is bounded; every process is stopped and its files closed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import REPO
from tocsin.testing import unused_port

ALERTMANAGER_INSTALL = REPO / "scripts" / "alertmanager" / "install.sh"
SWAKS_TIMEOUT = 30.0
_AM_STARTS = 3  # free ports are picked without a lock; retry if one got taken


def alertmanager_binary() -> str:
    """The prometheus-alertmanager binary; installed first when missing and run as root.

    Fails (never skips) when it is missing and cannot be installed.
    """
    found = shutil.which("prometheus-alertmanager")
    if found is None and os.geteuid() == 0:
        subprocess.run(["bash", str(ALERTMANAGER_INSTALL)], check=False, timeout=900)
        found = shutil.which("prometheus-alertmanager")
    if found is None:
        pytest.fail(
            "prometheus-alertmanager is missing: run scripts/alertmanager/install.sh as root "
            "(it installs the Debian package; scripts/test does this)"
        )
    return found


@dataclass(frozen=True)
class EmailReceiver:
    """Where and how Alertmanager sends its email (one ``email_configs`` entry)."""

    smarthost: str
    """``host:port`` of the SMTP server (STARTTLS is required)."""
    username: str
    password: str
    sender: str
    to: str
    ca_file: Path
    server_name: str = "localhost"


def alertmanager_config(receiver: EmailReceiver) -> dict[str, Any]:
    """An Alertmanager config sending every alert at once to ``receiver``.

    group_wait and group_interval are short so a test sees the email (or the retries)
    within seconds; repeat_interval is long so nothing is re-sent on its own.
    """
    return {
        "route": {
            "receiver": "relay",
            "group_by": ["alertname"],
            "group_wait": "100ms",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "relay",
                "email_configs": [
                    {
                        "to": receiver.to,
                        "from": receiver.sender,
                        "smarthost": receiver.smarthost,
                        "hello": "alertmanager.test",
                        "auth_username": receiver.username,
                        "auth_password": receiver.password,
                        "require_tls": True,
                        "send_resolved": False,
                        "tls_config": {
                            "ca_file": str(receiver.ca_file),
                            "server_name": receiver.server_name,
                        },
                        "headers": {"Subject": "{{ .CommonLabels.alertname }}"},
                    }
                ],
            }
        ],
    }


class Alertmanager:
    """A running ``prometheus-alertmanager`` on 127.0.0.1, clustering off."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        binary = alertmanager_binary()
        workdir.mkdir(parents=True, exist_ok=True)
        config_file = workdir / "alertmanager.yml"
        config_file.write_text(json.dumps(config, indent=2))  # JSON is YAML
        self.log = workdir / "alertmanager.log"
        failures = ""
        for _ in range(_AM_STARTS):
            self.port = unused_port()
            self.url = f"http://127.0.0.1:{self.port}"
            args = [
                binary,
                f"--config.file={config_file}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # no gossip port: a single instance
                "--log.level=debug",
            ]
            with self.log.open("ab") as sink:
                self.proc = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT)
            if self._wait_ready(timeout=20.0):
                return
            self._stop_process()
            failures = self.log.read_text(errors="replace")
        pytest.fail(f"prometheus-alertmanager did not start {_AM_STARTS} times:\n{failures}")

    def _wait_ready(self, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        return False

    def post_alert(self, alertname: str, **labels: str) -> None:
        """Raise one firing alert through the v2 API (as Prometheus does)."""
        alert = {
            "labels": {"alertname": alertname, **labels},
            "annotations": {"summary": f"{alertname} fired in a Tocsin test"},
        }
        response = httpx.post(f"{self.url}/api/v2/alerts", json=[alert], timeout=5)
        assert response.status_code == 200, response.text

    def log_text(self) -> str:
        """What it logged so far."""
        return self.log.read_text(errors="replace")

    def wait_for_log(self, text: str, *, timeout: float = 20.0) -> str:
        """Poll its log until ``text`` shows up; the log.  AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            logged = self.log_text()
            if text in logged:
                return logged
            assert self.proc.poll() is None, f"alertmanager exited:\n{logged}"
            assert time.monotonic() < deadline, f"{text!r} not logged in {timeout} s:\n{logged}"
            time.sleep(0.1)

    def _stop_process(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        self._stop_process()


@contextmanager
def alertmanager(receiver: EmailReceiver, workdir: Path) -> Iterator[Alertmanager]:
    """An `Alertmanager` sending to ``receiver`` until the block ends."""
    running = Alertmanager(alertmanager_config(receiver), workdir)
    try:
        yield running
    finally:
        running.stop()


def unique_alertname() -> str:
    """An alert name no other test uses (it becomes the email's subject)."""
    return f"TocsinInterop{uuid.uuid4().hex[:12]}"


def swaks(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run swaks with ``args``; its exit status and output (never raises for a status)."""
    binary = shutil.which("swaks")
    assert binary, "swaks is missing: run scripts/real-smtp/start.sh (it installs swaks)"
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=SWAKS_TIMEOUT, check=False
    )


@dataclass(frozen=True)
class Line:
    """One line of an SMTP conversation as the server logged it."""

    at: float
    """time.monotonic() when it was logged."""
    peer: str
    direction: str
    """``>>`` a command the server read, ``<<`` a reply it sent."""
    text: str


class ServerTranscript(logging.Handler):
    """Every command an aiosmtpd server of this process read and every reply it sent.

    aiosmtpd logs each command line (AUTH data masked) at INFO and each reply at DEBUG to
    the ``mail.log`` logger; this handler keeps them while it is attached (`recording`).
    AUTH responses to challenges are never logged, so no secret is kept.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[Line] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if record.msg != "%r >> %r" and record.msg != "%r << %r":
            return
        if not isinstance(args, tuple) or len(args) != 2:
            return
        peer, raw = args
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        line = Line(time.monotonic(), str(peer), str(record.msg)[3:5], text)
        with self._guard:
            self.lines.append(line)

    def commands(self, verb: str) -> list[Line]:
        """The command lines starting with ``verb`` (e.g. ``AUTH``), in order."""
        with self._guard:
            return [
                line
                for line in self.lines
                if line.direction == ">>" and line.text.upper().split(" ")[0] == verb.upper()
            ]

    def replies_to(self, verb: str) -> list[str]:
        """The final reply to each command starting with ``verb`` (after any 334 rounds)."""
        with self._guard:
            lines = list(self.lines)
        answers: list[str] = []
        for index, line in enumerate(lines):
            if line.direction != ">>" or line.text.upper().split(" ")[0] != verb.upper():
                continue
            for later in lines[index + 1 :]:
                if later.peer != line.peer or later.direction != "<<":
                    continue
                if not later.text.startswith("334 "):
                    answers.append(later.text)
                    break
        return answers


@contextmanager
def recording() -> Iterator[ServerTranscript]:
    """A `ServerTranscript` attached to aiosmtpd's logger until the block ends."""
    logger = logging.getLogger("mail.log")
    transcript = ServerTranscript()
    level = logger.level
    logger.addHandler(transcript)
    logger.setLevel(logging.DEBUG)
    try:
        yield transcript
    finally:
        logger.setLevel(level)
        logger.removeHandler(transcript)
