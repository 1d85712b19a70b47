"""Count the round trips a process makes to PostgreSQL (an instrument of the benches).

A round trip is a wait for the server's answer: a sync of a pipeline (a write
transaction's ``rows()``/``run()``, its flush, the closing sync that carries its COMMIT),
or, outside a pipeline, one exchange (a read's statement).  Counted by wrapping three of
psycopg's internals, ``Connection.wait`` (outside a pipeline) and the pipeline's
``_sync_gen`` and ``_exit_gen`` (each sends a Sync and reads up to its answer); should a
psycopg release rename them, :func:`install` returns None and nothing is counted.
(Before 2026-12-06 the closing syncs were not counted: figures of earlier notes are
one to three round trips a write transaction short.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["install"]


def install() -> Callable[[], int] | None:
    """Count from now on, in every thread; the function that reads the count."""
    try:
        import psycopg
        from psycopg import _pipeline_base
    except ImportError:
        return None
    pipeline = getattr(_pipeline_base, "BasePipeline", None)
    sync_gen = getattr(pipeline, "_sync_gen", None)
    exit_gen = getattr(pipeline, "_exit_gen", None)
    wait = getattr(psycopg.Connection, "wait", None)
    if pipeline is None or sync_gen is None or exit_gen is None or wait is None:
        return None
    count = [0]
    lock = threading.Lock()

    def counted_sync_gen(self: Any) -> Iterator[Any]:
        with lock:
            count[0] += 1
        return sync_gen(self)

    def counted_exit_gen(self: Any) -> Iterator[Any]:
        with lock:
            count[0] += 1
        return exit_gen(self)

    def counted_wait(self: Any, gen: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "_pipeline", None) is None:  # in a pipeline: the syncs count
            with lock:
                count[0] += 1
        return wait(self, gen, *args, **kwargs)

    pipeline._sync_gen = counted_sync_gen
    pipeline._exit_gen = counted_exit_gen
    psycopg.Connection.wait = counted_wait
    return lambda: count[0]
