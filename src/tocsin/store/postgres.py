"""The PostgreSQL store: settings and outbox for many workers in many processes.

Selected by a ``postgresql://`` URL (see :func:`tocsin.store.open_store`).  Claims use
``FOR UPDATE SKIP LOCKED``, so workers on any number of machines share one queue
without ever holding the same delivery.  ``schema`` puts every table in a schema of its
own (tests use one per run).

Opening a store brings its schema to the newest version (see
:mod:`tocsin.store.migrations`): each migration in a transaction that first takes a
transaction-level advisory lock named after the schema, so processes starting at once
(several workers, API nodes) migrate one after the other, and a process that dies
mid-migration lets go of the lock with its session.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager, suppress
from itertools import chain
from typing import TYPE_CHECKING, ClassVar

from tocsin.errors import MissingExtra
from tocsin.store.errors import storage_errors
from tocsin.store.facade import SQLStore
from tocsin.store.id_blocks import IdBlocks
from tocsin.store.lists import marks
from tocsin.store.migrations import APPLIANCE, Component, SchemaVersions
from tocsin.store.runner import Database, Row
from tocsin.store.statistics import keep_statistics
from tocsin.store.wakeup import channel, listen_postgres

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore", "migration_lock_key"]

_DRAIN_TRIES = 4  # syncs after an error: the first may stop at the error, the next drains


def migration_lock_key(schema: str) -> int:
    """The advisory lock key of migrations in ``schema`` (a signed 64-bit number).

    One per schema, so the test runs' schemas in one database do not wait on each other.
    """
    digest = hashlib.blake2b(f"tocsin schema migration {schema}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


@functools.cache
def _numbers() -> tuple[str, ...]:
    """The marks of statements of up to 4,096 parameters (the widest here: 3,400); made
    on first use, as an appliance on SQLite never needs them."""
    return tuple(f"${number}" for number in range(1, 4097))


@functools.lru_cache(maxsize=128)
def numbered(sql_text: str) -> str:
    """``sql_text`` with its ``?`` marks as PostgreSQL's own ``$1``, ``$2``, …

    psycopg turns ``%s`` marks into these itself, in a Python loop over the marks that
    it keeps the result of only for statements of at most 50 parameters and 4 kB
    (``psycopg._queries``): the intake's inserts of a request of events (one statement
    a table: hundreds of marks) and the verdicts' update of a batch went through that
    loop at every call, about 1 µs a mark (issue 11).  Numbered here in C passes (0.14
    ms for the 2,500 marks of 500 verdicts, 5 µs when kept) and sent through psycopg's
    ``RawCursor``, which passes the text on as it is.  Kept: the 128 texts last used,
    at most about 6 MB (the verdicts' statements come in every count, so not all of
    them).  The texts are the callers' constants (the SQL in :mod:`tocsin.store`, the
    multi-row forms of :func:`tocsin.store.inserts.insert_sql`); no SQL here holds a
    ``?`` or a ``%`` of its own.
    """
    pieces = sql_text.split("?")
    count = len(pieces) - 1
    kept = _numbers()
    numbers = kept[:count] if count <= len(kept) else [f"${n}" for n in range(1, count + 1)]
    return "".join(chain.from_iterable(zip(pieces[:-1], numbers, strict=True))) + pieces[-1]


class _PostgresRunner:
    """Runs the shared outbox SQL on a psycopg connection (``?`` becomes ``$1``, ``$2``, …:
    see :func:`numbered`).

    In a write transaction the connection is in pipeline mode (``pipeline``): statements
    go to the server without waiting for each answer.  :meth:`rows` and :meth:`run` then
    sync, so their rows and counts are what they would be without the pipeline, and an
    error of a statement sent before them is raised there; :meth:`send` and :meth:`many`
    do not wait, and their errors come later (at a later statement, at the latest
    before COMMIT: see :meth:`PostgresStore._transaction`).
    """

    def __init__(
        self,
        conn: psycopg.Connection[Row],
        pipeline: psycopg.Pipeline | None,
        ids: IdBlocks,
        notice: tuple[str, str],
    ) -> None:
        import psycopg

        self._conn = conn
        self._cursor = psycopg.RawCursor
        self._pipeline = pipeline
        self._ids = ids
        self._pending = False  # sent and not synced since
        self._notice: tuple[str, str] | None = notice  # (channel, payload) until sent

    def rows(
        self,
        sql_text: str,
        params: Sequence[object] = (),
        *,
        binary: bool = False,
        fresh_plan: bool = False,
    ) -> list[Row]:
        cursor = self._execute(sql_text, params, wait=True, binary=binary, fresh_plan=fresh_plan)
        return cursor.fetchall() if cursor.description is not None else []

    def run(self, sql_text: str, params: Sequence[object] = ()) -> int:
        return self._execute(sql_text, params, wait=True).rowcount

    def send(
        self, sql_text: str, params: Sequence[object] = (), *, fresh_plan: bool = False
    ) -> None:
        self._execute(sql_text, params, wait=False, fresh_plan=fresh_plan)

    def ask(
        self, sql_text: str, params: Sequence[object] = (), *, fresh_plan: bool = False
    ) -> Callable[[], list[Row]]:
        cursor = self._execute(sql_text, params, wait=False, fresh_plan=fresh_plan)

        def answer() -> list[Row]:
            self.flush()  # a no-op when a later wait has answered it already
            return cursor.fetchall() if cursor.description is not None else []

        return answer

    def many(self, sql_text: str, seq: Sequence[Sequence[object]]) -> None:
        # In a pipeline, psycopg's executemany rides it and does not sync either.
        with self._draining(), self._cursor(self._conn) as cursor:
            cursor.executemany(numbered(sql_text), seq)
        self._pending = self._pipeline is not None

    def new_ids(self, table: str, count: int) -> list[int]:
        return self._ids.take(self, table, count)

    def mail_queued(self) -> None:
        # Once a transaction (or savepoint): the server delivers it at COMMIT, not before.
        notice, self._notice = self._notice, None
        if notice is not None:
            self.send("SELECT pg_notify(?, ?)", notice)

    def script(self, sql_text: str) -> None:
        # Without parameters psycopg sends the text as is: several statements, no "?" rewrite.
        # (Not in a pipeline, whose extended protocol takes one statement at a time: the
        # migrations' transaction has none.)
        self._conn.execute(sql_text)

    def table_exists(self, name: str) -> bool:
        return bool(self.rows("SELECT to_regclass(?) IS NOT NULL", (name,))[0][0])

    def flush(self) -> None:
        """Wait for every statement sent: raises the first one's error, if any failed."""
        if self._pipeline is not None and self._pending:
            with self._draining():
                self._pipeline.sync()
            self._pending = False

    def _execute(
        self,
        sql_text: str,
        params: Sequence[object],
        *,
        wait: bool,
        binary: bool = False,
        fresh_plan: bool = False,
    ) -> psycopg.Cursor[Row]:
        cursor = self._cursor(self._conn)
        # Never prepared, a statement is planned at each call for its values (see Runner.rows).
        prepare = False if fresh_plan else None
        if self._pipeline is None:
            return cursor.execute(numbered(sql_text), params, binary=binary, prepare=prepare)
        with self._draining():
            cursor.execute(numbered(sql_text), params, binary=binary, prepare=prepare)
            if wait:
                self._pipeline.sync()
        self._pending = not wait
        return cursor

    @contextmanager
    def _draining(self) -> Iterator[None]:
        """On an error in the pipeline, sync until it answers cleanly, then raise it.

        psycopg raises a failed statement's error as soon as it reads it, maybe while
        sending a later statement, before any sync; the server skips every statement
        up to the next sync (they answer "pipeline aborted").  Drained, the pipeline
        takes statements again: the transaction (failed) rolls back, or back to a
        savepoint, and a later sync does not raise that aftermath instead of the error.
        """
        try:
            yield
        except Exception:
            self._pending = False
            pipeline = self._pipeline
            for _ in range(_DRAIN_TRIES):
                if pipeline is None or self._conn.broken or self._conn.closed:
                    break
                with suppress(Exception):  # "pipeline aborted": the error's aftermath
                    pipeline.sync()
                    break
            raise


class PostgresStore(SQLStore):
    """Settings and outbox storage in PostgreSQL.

    ``migrate`` (the default) brings the schema up to date on opening.  Raises
    ``psycopg.OperationalError`` when the server cannot be reached, and
    :class:`~tocsin.errors.SchemaTooNew` if a newer Tocsin wrote the database.
    """

    dialect: ClassVar[str] = "postgres"
    components: ClassVar[tuple[Component, ...]] = (APPLIANCE,)

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        connect_timeout: int = 10,
        migrate: bool = True,
    ) -> None:
        self.url = url
        self.schema = schema
        self._connect_timeout = connect_timeout
        self._lock = threading.RLock()
        self._pipeline: psycopg.Pipeline | None = None  # while a write transaction is open
        self._ids = IdBlocks()  # ids taken ahead, so that INSERTs need not answer them
        self._token = secrets.token_hex(8)  # our own NOTIFYs' payload: not for our engine
        self._channel = ""  # this schema's (see tocsin.store.wakeup), read on connecting
        self._conn = self._connect()
        super().__init__(
            Database(self._writing, self._reading),
            SchemaVersions(self, self.components),
            claim_lock=" FOR UPDATE SKIP LOCKED",
        )
        if migrate:
            try:
                self.upgrade_schema()
            except BaseException:
                self._conn.close()
                raise

    def _connect(self) -> psycopg.Connection[Row]:
        conn = self.new_connection()
        row = conn.execute("SELECT coalesce(current_schema(), '')").fetchone()
        self._channel = channel(str(row[0]) if row else "")
        return conn

    def new_connection(self) -> psycopg.Connection[Row]:
        """A new autocommit connection to this store's schema (made if it is missing),
        apart from the store's own: for work that must not hold the store's."""
        # psycopg comes with the postgres extra only: an appliance on SQLite does without.
        try:
            import psycopg
            from psycopg import sql
        except ModuleNotFoundError as exc:
            if exc.name != "psycopg":
                raise
            raise MissingExtra("PostgreSQL", "postgres") from exc

        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self._connect_timeout)
        if self.schema:
            name = sql.Identifier(self.schema)
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
            conn.execute(sql.SQL("SET search_path TO {}").format(name))
        return conn

    def _runner(self) -> _PostgresRunner:
        if self._conn.closed or self._conn.broken:
            # The server restarted or the network broke: open a new session.
            self._conn = self._connect()
        return _PostgresRunner(self._conn, self._pipeline, self._ids, (self._channel, self._token))

    @contextmanager
    def _writing(self, *, pipelined: bool = True) -> Iterator[_PostgresRunner]:
        """A write transaction, in pipeline mode unless ``pipelined`` is False (issue 11:
        one round trip per statement was most of the intake's time on PostgreSQL).

        Pipelined, its BEGIN rides with the first statement that waits and its COMMIT
        with the last ones sent, in the pipeline's closing sync: a transaction costs one
        round trip more than its reads (psycopg's ``transaction()`` in a pipeline syncs
        at BEGIN and at each of the three pipelines it nests: four more).
        Nested in another (same thread), it is a savepoint in the same pipeline.
        """
        with self._lock, storage_errors():
            if self._pipeline is not None or not pipelined:
                with self._transaction(self._runner()) as runner:
                    yield runner
                return
            self._runner()  # reconnects first if it must
            self._end_transaction()  # one a failure left open, if any (never commit it)
            try:
                with self._conn.pipeline() as pipeline:
                    self._pipeline = pipeline
                    runner = self._runner()
                    runner.send("BEGIN")
                    try:
                        yield runner
                    except BaseException:
                        runner.flush()  # a statement sent before failed first: its error wins
                        raise
                    runner.send("COMMIT")  # the pipeline's closing sync sends it
            except BaseException:
                # The block failed, or the COMMIT, or a statement before it (the server
                # skipped the COMMIT): the transaction ended, or waits for its ROLLBACK.
                self._end_transaction()
                raise
            finally:
                self._pipeline = None

    def _end_transaction(self) -> None:
        """Roll back the transaction the session is in, if any (best effort: a session
        that cannot is broken, and the next write opens a new one)."""
        from psycopg.pq import TransactionStatus

        conn = self._conn
        if conn.closed or conn.broken or conn.pgconn.transaction_status == TransactionStatus.IDLE:
            return
        with suppress(Exception):
            conn.execute("ROLLBACK")

    @contextmanager
    def _transaction(self, runner: _PostgresRunner) -> Iterator[_PostgresRunner]:
        with self._conn.transaction():
            try:
                yield runner
            finally:
                # Inside the transaction, so that a statement sent and failed raises here
                # and rolls it back, as it would have at the statement without the pipeline
                # (that error came first: it wins over one the block raised after it).
                # A COMMIT queued with a failed statement before it would be skipped.
                runner.flush()

    @contextmanager
    def migration_transaction(self) -> Iterator[_PostgresRunner]:
        """A transaction holding this schema's migration lock (until it ends).

        Not pipelined: a migration's script holds several statements in one text.
        """
        with self._writing(pipelined=False) as runner:
            schema = runner.rows("SELECT coalesce(current_schema(), '')")[0][0]
            runner.rows("SELECT pg_advisory_xact_lock(?)", (migration_lock_key(str(schema)),))
            yield runner

    @contextmanager
    def _reading(self) -> Iterator[_PostgresRunner]:
        with self._lock, storage_errors():
            yield self._runner()

    def get_value(self, key: str) -> str | None:
        """The stored text for ``key``, or None."""
        with self._reading() as runner:
            rows = runner.rows("SELECT value FROM kv WHERE key = ?", (key,))
        return None if not rows else str(rows[0][0])

    def get_values(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored texts for those of ``keys`` that have one, in one statement."""
        if not keys:
            return {}
        listed = marks(len(keys))
        with self._reading() as runner:
            rows = runner.rows(
                f"SELECT key, value FROM kv WHERE key IN ({listed})",  # noqa: S608 (marks only)
                tuple(keys),
            )
        return {str(r[0]): str(r[1]) for r in rows}

    def put_value(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, committed before returning."""
        with self.transaction() as tx:
            tx.put_value(key, value)

    def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (tests clean up with it)."""
        if not self.schema:
            raise ValueError("this store has no schema of its own to drop")
        from psycopg import sql

        with self._reading():
            self._conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
            )

    def listen_for_mail(self, on_mail: Callable[[], None]) -> AbstractAsyncContextManager[bool]:
        """While the block runs, ``on_mail`` hears when another process (or another
        store object) queues mail in this schema, through LISTEN on a connection of its
        own (see :mod:`tocsin.store.wakeup`); yields False if the LISTEN failed."""
        return listen_postgres(
            self.url, self._channel, self._token, on_mail, connect_timeout=self._connect_timeout
        )

    async def keep_statistics(self, stop: asyncio.Event) -> None:
        """Until ``stop``: ANALYZE each table that a storm made outgrow its statistics,
        on a connection of its own (see :mod:`tocsin.store.statistics`)."""
        await keep_statistics(self.new_connection, stop)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
