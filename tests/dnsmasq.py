"""dnsmasq as a real DNS server for tests: in the foreground on a free loopback port,
answering only from the records it is given (no upstream, no /etc/hosts)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.resolver
import pytest

from helpers import REPO

_STARTS = 3  # the port is picked without a lock; another process may take it first


@dataclass(frozen=True)
class DNSAddress:
    """Where the test DNS server answers."""

    host: str
    port: int


def _binary() -> str:
    found = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")
    if found is None and os.geteuid() == 0:
        script = REPO / "scripts" / "dns" / "install.sh"
        subprocess.run(["bash", str(script)], check=False, timeout=900)
        found = shutil.which("dnsmasq", path="/usr/sbin:/sbin:/usr/bin")
    if found is None:
        pytest.fail(
            "dnsmasq is missing: run scripts/dns/install.sh as root "
            "(it installs Debian's dnsmasq-base; scripts/test does this)"
        )
    return found


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 a moment ago."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no free port for dnsmasq")


def _answers(port: int, probe: str) -> bool:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.lifetime = 0.5
    try:
        resolver.resolve(probe, "MX")
    except dns.exception.DNSException:
        return False
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@contextmanager
def running_dnsmasq(
    records: Sequence[str], *, probe: str, log_dir: os.PathLike[str] | str
) -> Iterator[DNSAddress]:
    """dnsmasq answering from ``records`` (its command-line options) until the block ends.

    ``probe`` is a name with an MX record among them: the server is ready once it answers.
    """
    binary = _binary()
    log = Path(log_dir) / "dnsmasq.log"
    for _ in range(_STARTS):
        port = _free_port()
        args = [
            binary,
            "--keep-in-foreground",
            "--conf-file=/dev/null",  # no /etc/dnsmasq.conf
            "--no-resolv",  # no upstream servers
            "--no-hosts",  # nor /etc/hosts
            "--pid-file=",
            "--log-facility=-",
            f"--port={port}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",  # bind 127.0.0.1 only, not the wildcard address
            *records,
        ]
        with log.open("ab") as sink:
            proc = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while proc.poll() is None and not _answers(port, probe) and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None and _answers(port, probe):
            try:
                yield DNSAddress("127.0.0.1", port)
            finally:
                _stop(proc)
            return
        if proc.poll() is None:
            _stop(proc)
    pytest.fail(f"dnsmasq did not start {_STARTS} times:\n{log.read_text()}")
