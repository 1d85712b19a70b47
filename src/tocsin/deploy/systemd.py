"""systemd: the service unit Tocsin ships, and the notifications of ``Type=notify``.

The unit (``tocsin.service``, package data beside this module) runs ``tocsin serve``
as the ``tocsin`` user with its data in ``/var/lib/tocsin``, hardened.
:func:`unit_text` gives it with ``ExecStart`` pointing at this installation.

:func:`notify` is sd_notify(3) in a few lines: one datagram to the unix socket named
by ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace).  ``tocsin
serve`` sends ``READY=1`` once its port takes connections, ``STOPPING=1`` when told to
stop, ``STATUS=…`` lines, and ``WATCHDOG=1`` every half ``$WATCHDOG_USEC`` while its
event loop runs.  Without ``$NOTIFY_SOCKET`` (not under systemd) nothing is sent.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import socket
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

__all__ = ["UNIT_NAME", "notify", "unit_text", "watchdog_interval"]

log = logging.getLogger("tocsin.systemd")

UNIT_NAME = "tocsin.service"
_SHIPPED_PROGRAM = "/usr/local/bin/tocsin"


def notify(message: str, *, environ: Mapping[str, str] = os.environ) -> bool:
    """Send ``message`` (e.g. ``READY=1``) to systemd; True if it was sent.

    Never raises: a service must not fail because its supervisor is not listening.
    """
    address = environ.get("NOTIFY_SOCKET", "")
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        return False  # unset, or a transport (vsock) we do not speak
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("could not notify systemd (%s): %s", message.split("=")[0], exc)
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] = os.environ) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``$WATCHDOG_USEC``), or None.

    None also when ``$WATCHDOG_PID`` names another process (the watchdog is not ours).
    """
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000


def _program() -> str:
    """The ``tocsin`` command of this installation (absolute), or ``python -m tocsin``."""
    beside = Path(sys.executable).with_name("tocsin")
    if beside.is_file() and os.access(beside, os.X_OK):
        return shlex.quote(str(beside.absolute()))
    found = shutil.which("tocsin")
    if found:
        return shlex.quote(str(Path(found).absolute()))
    return f"{shlex.quote(str(Path(sys.executable).absolute()))} -m tocsin"


def unit_text(*, program: str | None = None, host: str = "127.0.0.1", port: int = 8025) -> str:
    """The shipped unit, with ``ExecStart`` running ``program`` (default: this install's
    ``tocsin``) to listen on ``host``:``port``.  Raises ValueError for a bad host."""
    if not host or any(c.isspace() or c in "\"'\\;" for c in host):
        raise ValueError(f"not a host to listen on: {host!r}")
    text = resources.files("tocsin.deploy").joinpath(UNIT_NAME).read_text(encoding="utf-8")
    exec_start = f"ExecStart={program or _program()} serve --host {host} --port {port}"
    lines = [exec_start if line.startswith("ExecStart=") else line for line in text.splitlines()]
    if lines.count(exec_start) != 1:
        raise RuntimeError(f"the shipped {UNIT_NAME} has no single ExecStart line")
    return "\n".join(lines) + "\n"
