"""Group commit: concurrent intake requests share one store transaction, each in a savepoint.

Every accepted event must be on disk before its answer, so every intake transaction
ends in a commit that waits for the disk (SQLite ``synchronous=FULL``, PostgreSQL's
WAL flush).  Under a storm that wait, taken one request at a time with the write lock
held, is what limits the intake.  :class:`GroupCommit` lets the requests that arrive
while one transaction is running go together in the next one:

- the first request to arrive *leads*: it takes every request waiting, runs each one's
  work in its own ``SAVEPOINT`` (a refused request rolls back to it, alone), commits
  once, and wakes them all with their own result or error;
- requests arriving meanwhile wait; when the leader is done, the first of them leads
  the next round.

Nothing waits on purpose: with no other request around, a transaction holds just one
(and then needs no savepoint).
A request still returns only after the commit that made its work durable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from tocsin.store import AnyStore, SQLTransaction
from tocsin.store.errors import as_storage_error

__all__ = ["GroupCommit"]

T = TypeVar("T")


class _Job(Generic[T]):
    def __init__(self, work: Callable[[SQLTransaction], T]) -> None:
        self.work = work
        self.wake = threading.Event()
        self.lead = False
        self.finished = False
        self.value: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class GroupCommit:
    """Runs work of concurrent callers in shared transactions of ``store``."""

    def __init__(self, store: AnyStore, *, max_group: int = 64) -> None:
        self._store = store
        self._max_group = max_group
        self._lock = threading.Lock()
        self._waiting: list[_Job[object]] = []
        self._leading = False

    def run(self, work: Callable[[SQLTransaction], T]) -> T:
        """Run ``work`` in a transaction (maybe shared); return its result after the commit.

        ``work`` raising rolls back only its own writes and re-raises here.  If the
        commit itself fails, every caller of that round gets the error.
        """
        job: _Job[T] = _Job(work)
        with self._lock:
            self._waiting.append(job)  # type: ignore[arg-type]
            if not self._leading:
                self._leading = job.lead = True
        if not job.lead:
            job.wake.wait()  # until our round is committed, or it is our turn to lead
        if not job.finished:
            self._lead()
        return job.outcome()

    def _lead(self) -> None:
        with self._lock:
            group = self._waiting[: self._max_group]
            del self._waiting[: self._max_group]
        try:
            self._commit(group)
        finally:
            with self._lock:
                if self._waiting:
                    successor = self._waiting[0]
                    successor.lead = True
                    successor.wake.set()
                else:
                    self._leading = False

    def _commit(self, group: list[_Job[object]]) -> None:
        if len(group) == 1:
            self._commit_alone(group[0])
            return
        try:
            with self._store.transaction() as tx:
                for index, job in enumerate(group):
                    name = f"intake_{index}"
                    tx.runner.send(f"SAVEPOINT {name}")
                    try:
                        job.value = job.work(tx)
                        # run() waits for every statement sent before it (a PostgreSQL
                        # write transaction pipelines them): one of this job's that
                        # failed fails here, inside the try, so it is this job's error.
                        tx.runner.run(f"RELEASE SAVEPOINT {name}")
                    except Exception as exc:
                        # A full disk seen inside the savepoint is still a full disk to
                        # this caller (the store translates only what leaves the
                        # transaction); if SQLite already rolled everything back, this
                        # ROLLBACK TO fails and the round fails as a whole, below.
                        tx.runner.run(f"ROLLBACK TO SAVEPOINT {name}")
                        job.error = as_storage_error(exc)
                        tx.runner.send(f"RELEASE SAVEPOINT {name}")
        except BaseException as exc:  # the transaction failed: nothing of this round is stored
            for job in group:
                if job.error is None:
                    job.error, job.value = exc, None
            if not isinstance(exc, Exception):
                raise
        finally:
            for job in group:
                job.finished = True
                job.wake.set()

    def _commit_alone(self, job: _Job[object]) -> None:
        """A round of one: its own transaction, no savepoint (two statements fewer).

        Work that raises rolls the whole transaction back, which holds nothing else.
        """
        try:
            with self._store.transaction() as tx:
                job.value = job.work(tx)
        except Exception as exc:
            job.error, job.value = as_storage_error(exc), None
        finally:
            job.finished = True
            job.wake.set()
