"""Real Mosquitto for the MQTT tests: the machine's on 127.0.0.1:1883, or a private one.

The machine's broker (started by scripts/mosquitto/ensure.sh when it is not running)
allows anonymous clients; a private ``mosquitto`` on a free port with a temporary
configuration serves the username/password and TLS tests.  Every test uses topics and
client ids of its own (:func:`unique`), so parallel runs never see each other's messages.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trustme

MACHINE_BROKER = ("127.0.0.1", 1883)


def unique(prefix: str = "t") -> str:
    """A name no other test uses: for topics and client ids."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def broker_answers(host: str, port: int) -> bool:
    """True when something takes TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def publish(
    topic: str, payload: str | bytes, *, port: int = 1883, extra: tuple[str, ...] = ()
) -> None:
    """``mosquitto_pub -q 1`` one message (as a site's script would); asserts it worked."""
    data = payload.encode() if isinstance(payload, str) else payload
    done = subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic, "-s", *extra],
        input=data,
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")


def wait_until(predicate: object, what: str, timeout: float = 20.0) -> None:
    """Poll ``predicate`` until true; AssertionError naming ``what`` after ``timeout`` s."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def private_broker(
    where: Path, *, users: dict[str, str] | None = None, ca: trustme.CA | None = None
) -> Iterator[int]:
    """A ``mosquitto`` of this test on a free port until the block ends; its port.

    ``users``: name → password (anonymous refused); ``ca``: serve TLS with a certificate
    for ``localhost`` / 127.0.0.1 issued by it.
    """
    where.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    lines = [f"listener {port} 127.0.0.1", "persistence false", "user root"]
    if users:
        passwd = where / "passwd"
        passwd.touch(mode=0o600)
        for name, password in users.items():
            subprocess.run(
                ["mosquitto_passwd", "-b", str(passwd), name, password], check=True, timeout=20
            )
        lines += ["allow_anonymous false", f"password_file {passwd}"]
    else:
        lines.append("allow_anonymous true")
    if ca is not None:
        leaf = ca.issue_cert("localhost", "127.0.0.1")
        leaf.cert_chain_pems[0].write_to_path(str(where / "cert.pem"))
        leaf.private_key_pem.write_to_path(str(where / "key.pem"))
        lines += [f"certfile {where / 'cert.pem'}", f"keyfile {where / 'key.pem'}"]
    conf = where / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    log = (where / "mosquitto.log").open("wb")
    process = subprocess.Popen(
        [shutil.which("mosquitto") or "mosquitto", "-c", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(
            lambda: process.poll() is not None or broker_answers("127.0.0.1", port),
            "mosquitto listens",
            10,
        )
        assert process.poll() is None, (where / "mosquitto.log").read_text()
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()
