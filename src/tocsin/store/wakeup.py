"""A word to the delivery engines of other processes when mail is queued.

An engine finds due mail when its own process wakes it (the intake hands an alarm
over, or calls ``wake()``) and otherwise at its next poll, up to half a second later.
Mail queued by another process sharing the database (``tocsin serve`` beside a
``tocsin worker``, a ``tocsin outbox retry`` run from a shell, a second ``serve``
on one PostgreSQL database) waited for that poll.  Now the transaction that queues
deliveries wakes every other engine when it commits:

- **PostgreSQL**: a ``NOTIFY`` in that transaction (the server delivers it at the
  commit and drops it at a rollback), heard by a ``LISTEN`` on a connection of the
  engine's own; one channel per schema (:func:`channel`).
- **SQLite**: each listening engine binds a Unix datagram socket in ``outbox-workers``
  beside the database (the directory that holds the engines' lock files, mode 0700
  like the data directory); after the commit the writer sends one byte to each socket
  there but its own.  A socket whose process died refuses it and is removed.

The word is only a nudge: an engine that misses one (it was restarting, or its
socket could not be bound) still finds the mail at its next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Final

__all__ = ["CHANNEL_PREFIX", "WakeSockets", "channel", "listen_postgres"]

log = logging.getLogger("tocsin.outbox")

CHANNEL_PREFIX: Final = "tocsin_mail_"
_SUFFIX: Final = ".wake"
# sockaddr_un holds 108 octets with the final NUL; a longer path goes through the
# directory's descriptor in /proc (Linux), whatever the data directory's length.
_MAX_PATH: Final = 100
_NUDGE: Final = b"!"
_RETRY_FIRST: Final = 1.0  # seconds before LISTEN is tried again, doubling
_RETRY_CAP: Final = 30.0


def channel(schema: str) -> str:
    """The NOTIFY channel of one schema's outbox (an identifier of fixed length, so
    that a long schema name cannot make it too long or need quoting)."""
    digest = hashlib.blake2b(schema.encode(), digest_size=8).hexdigest()
    return f"{CHANNEL_PREFIX}{digest}"


class WakeSockets:
    """The wake-up sockets of the engines on one SQLite database, in ``directory``.

    :meth:`listen` binds this process's socket while an engine runs; :meth:`nudge`
    (after a commit that queued mail) sends to every other socket there.  Safe from
    any thread.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._own: str | None = None  # the file name of the socket this object bound
        # One socket to send from, made at the first nudge (a store that never queues
        # mail holds none), under a lock: any thread may nudge.
        self._sender: socket.socket | None = None
        self._sender_lock = threading.Lock()
        self._warned = False

    def nudge(self) -> None:
        """Wake every other listening engine; never raises (the poll still finds mail)."""
        try:
            entries = [e.name for e in os.scandir(self.directory) if e.name.endswith(_SUFFIX)]
        except OSError:
            return  # no engine has listened here yet
        for name in entries:
            if name != self._own:
                self._send(name)

    def _send(self, name: str) -> None:
        with self._sender_lock:
            if self._sender is None:
                self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sender.setblocking(False)
            sender = self._sender
        try:
            with self._address(name) as address:
                sender.sendto(_NUDGE, address)
        except BlockingIOError:
            pass  # its queue is full: that engine has nudges enough still to read
        except (ConnectionRefusedError, FileNotFoundError):
            # Nobody reads it: the engine that bound it died without removing it.
            with contextlib.suppress(OSError):
                (self.directory / name).unlink()
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("cannot wake the delivery engine at %s: %s", name, exc)

    @contextlib.asynccontextmanager
    async def listen(self, on_mail: Callable[[], None]) -> AsyncIterator[bool]:
        """While the block runs, call ``on_mail`` (on the running loop) when another
        process queues mail; yields False when no socket could be bound (logged)."""
        name = f"{secrets.token_hex(8)}{_SUFFIX}"
        sock: socket.socket | None = None
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            with self._address(name) as address:
                sock.bind(address)
            sock.setblocking(False)
        except OSError as exc:
            if sock is not None:
                sock.close()
            log.warning("no wake-up socket in %s (%s): mail from other processes "
                        "waits for the next poll", self.directory, exc)  # fmt: skip
            yield False
            return
        self._own = name
        loop = asyncio.get_running_loop()
        loop.add_reader(sock.fileno(), _drain, sock, on_mail)
        try:
            yield True
        finally:
            loop.remove_reader(sock.fileno())
            self._own = None
            with contextlib.suppress(OSError):
                (self.directory / name).unlink()
            sock.close()

    def close(self) -> None:
        """Close the socket used to send nudges."""
        with self._sender_lock:
            sender, self._sender = self._sender, None
        if sender is not None:
            sender.close()

    @contextlib.contextmanager
    def _address(self, name: str) -> Iterator[str]:
        path = str(self.directory / name)
        if len(path) <= _MAX_PATH:
            yield path
            return
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            yield f"/proc/self/fd/{fd}/{name}"
        finally:
            os.close(fd)


def _drain(sock: socket.socket, on_mail: Callable[[], None]) -> None:
    """Read every nudge waiting (one wake-up for all of them)."""
    with contextlib.suppress(OSError):  # BlockingIOError: none left
        while True:
            sock.recv(64)
    on_mail()


@contextlib.asynccontextmanager
async def listen_postgres(
    url: str, name: str, own: str, on_mail: Callable[[], None], *, connect_timeout: int = 10
) -> AsyncIterator[bool]:
    """While the block runs, call ``on_mail`` when a NOTIFY on channel ``name`` comes
    from another store than ``own`` (its payload).  The first LISTEN is made before the
    block starts (False if it failed); a lost connection is made again in the
    background, with a nudge after each (mail may have come meanwhile)."""
    import psycopg

    async def connect() -> psycopg.AsyncConnection[object]:
        conn = await psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=connect_timeout
        )
        try:
            await conn.execute(f'LISTEN "{name}"')  # a fixed hex name: see channel()
        except BaseException:
            await conn.close()
            raise
        return conn

    async def hear(conn: psycopg.AsyncConnection[object] | None) -> None:
        pause = _RETRY_FIRST
        while True:
            if conn is None:
                try:
                    conn = await connect()
                except (OSError, psycopg.Error) as exc:
                    log.debug("LISTEN for new mail failed again: %s", exc)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, _RETRY_CAP)
                    continue
                log.info("listening for new mail again")
                pause = _RETRY_FIRST
                on_mail()
            try:
                async for notice in conn.notifies():
                    if notice.payload != own:
                        on_mail()
            except (OSError, psycopg.Error) as exc:
                log.warning("the connection that hears of new mail broke (%s): polling "
                            "until it is back", exc)  # fmt: skip
            finally:
                await conn.close()
            conn = None

    try:
        first: psycopg.AsyncConnection[object] | None = await connect()
    except (OSError, psycopg.Error) as exc:
        log.warning("cannot LISTEN for new mail (%s): mail from other processes waits "
                    "for the next poll", exc)  # fmt: skip
        first = None
    task = asyncio.create_task(hear(first), name="outbox-listen")
    try:
        yield first is not None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
