"""Bare ports for connection faults: `BlackHole`, `closed_port()`, `unused_port()`."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self


class BlackHole:
    """A TCP port that completes connections but never sends a byte.

    A listening socket that never calls ``accept()``: the kernel finishes the handshake for
    up to about ``backlog`` clients, so they connect and then wait for a greeting for ever.
    Usable from any thread or process while open.
    """

    def __init__(self, host: str = "127.0.0.1", *, backlog: int = 64) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._sock.bind((host, 0))
            self._sock.listen(backlog)
        except BaseException:
            self._sock.close()
            raise
        self.host = host
        self.port: int = self._sock.getsockname()[1]

    def close(self) -> None:
        """Stop listening; waiting clients are reset."""
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextmanager
def closed_port(host: str = "127.0.0.1") -> Iterator[int]:
    """Yield a port on ``host`` where nothing listens, so connecting is refused.

    The port stays bound (not listening) until the block ends, so no other program can
    take it meanwhile.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        yield int(sock.getsockname()[1])


def unused_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that was free a moment ago (racy; prefer `closed_port()`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
