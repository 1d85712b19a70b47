"""Who holds a lease, and whether that worker still lives: a lock file per incarnation.

A worker that dies (a crash, SIGKILL, a power cut) leaves its deliveries leased until
the lease runs out.  When it restarts it need not wait: each engine that keeps its
state in a directory (the data directory) holds an exclusive ``flock`` on a file of
its own there for as long as it runs.  The kernel lets go of the lock when the
process ends, however it ends, so on start a worker can take the lock file of any
earlier owner *of the same directory*: if it gets it, that owner is gone and its
leases can be handed out again at once.

The owner names the directory's instance (a random id kept in the directory), so
workers of other directories (other hosts, other containers) sharing a PostgreSQL
outbox are never judged: their leases still expire as before.  Nothing here trusts a
PID, which can be reused, nor a host name, which can be shared.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import socket
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Final

from tocsin.errors import FailureLog
from tocsin.outbox.recording import StoreCall
from tocsin.outbox.store import OutboxStore

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: leases simply expire
    fcntl = None  # type: ignore[assignment]

__all__ = ["WORKERS_DIR", "WorkerLock", "default_owner", "held_lock_files", "take_back_orphans"]

log = logging.getLogger("tocsin.outbox")

WORKERS_DIR: Final = "outbox-workers"
"""Where in its state directory an engine keeps its lock file (and the instance id)."""
_INSTANCE_FILE: Final = "instance"
_ID: Final = re.compile(r"[0-9a-f]{16}")


def _instance_id(directory: Path) -> str:
    """The directory's instance id, made on first use (and kept)."""
    path = directory / _INSTANCE_FILE
    with contextlib.suppress(FileNotFoundError):
        found = path.read_text().strip()
        if _ID.fullmatch(found):
            return found
    candidate = secrets.token_hex(8)
    temporary = directory / f".{_INSTANCE_FILE}.{candidate}"
    temporary.write_text(candidate + "\n")
    try:
        os.link(temporary, path)  # atomic: the first worker to get here wins
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    found = path.read_text().strip()
    if not _ID.fullmatch(found):
        raise RuntimeError(f"{path} does not hold an instance id; remove it")
    return found


def held_lock_files(directory: Path) -> list[Path]:
    """The lock files in ``directory`` that a running engine holds now.

    A process that wants the directory to itself (a restore) asks this: each file is
    tried with a non-blocking lock, let go again at once, and never removed.  Empty on
    a system without ``flock``.
    """
    if fcntl is None or not directory.is_dir():
        return []
    held: list[Path] = []
    for path in sorted(directory.glob("*.lock")):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue  # its engine stopped meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.append(path)
        finally:
            os.close(fd)  # closing lets go of a lock this process just took
    return held


class WorkerLock:
    """The lease owner of one engine run, kept alive by a lock file in ``directory``.

    ``owner`` reads ``host:pid:incarnation@instance``.  Raises ``OSError`` when the
    directory cannot be created or written.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.instance = _instance_id(directory)
        self.incarnation = secrets.token_hex(8)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{self.incarnation}@{self.instance}"
        self._fd: int | None = None

    def hold(self) -> None:
        """Take this incarnation's lock (for as long as the process lives or until release)."""
        if self._fd is not None or fcntl is None:
            return
        fd = os.open(self._path(self.incarnation), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh random name: never held
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file and let go of the lock (a clean stop)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self._path(self.incarnation).unlink()
        os.close(fd)

    def orphaned(self, owners: list[str]) -> list[str]:
        """The owners among ``owners`` that were of this directory and are gone.

        An owner counts as gone only when its lock file exists and can be locked; an
        owner of another directory, a live one, or one whose file is missing is left
        alone (its leases expire as usual).  Lock files of the gone are removed.
        """
        gone: list[str] = []
        for owner in owners:
            incarnation = self._incarnation_of(owner)
            if incarnation is None or incarnation == self.incarnation:
                continue
            if self._dead(incarnation):
                gone.append(owner)
        return gone

    def _incarnation_of(self, owner: str) -> str | None:
        head, at, instance = owner.rpartition("@")
        if not at or instance != self.instance:
            return None
        incarnation = head.rpartition(":")[2]
        return incarnation if _ID.fullmatch(incarnation) else None

    def _dead(self, incarnation: str) -> bool:
        if fcntl is None:
            return False
        path = self._path(incarnation)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its worker still holds it
        else:
            path.unlink(missing_ok=True)
            return True
        finally:
            os.close(fd)

    def _path(self, incarnation: str) -> Path:
        return self.directory / f"{incarnation}.lock"


def default_owner() -> str:
    """A lease owner for an engine without a lock file: host, process, a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def take_back_orphans(
    lock: WorkerLock | None,
    store: OutboxStore,
    db: StoreCall,
    *,
    clock: Callable[[], float],
    failures: FailureLog,
) -> None:
    """Hold ``lock``; end the leases of earlier workers of its directory that died (an
    engine starting; ``db`` runs store calls on its store thread).  None: nothing to do."""
    if lock is None:
        return
    try:
        lock.hold()
        gone = lock.orphaned(await db(store.lease_owners))
        if gone:
            count = await db(partial(store.expire_leases, gone, now=clock()))
            log.info("took back %d deliveries of %d stopped workers", count, len(gone))
    except Exception:
        failures.failed("taking back dead workers' leases failed; they will expire")
