"""Helpers shared by the test modules (no fixtures here; those live in conftest.py)."""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest

if TYPE_CHECKING:
    from tocsin.services.group_commit import GroupCommit
    from tocsin.store.outbox_sql import SQLTransaction
    from tocsin.store.postgres import PostgresStore

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
REAL_SMTP_SCRIPTS = REPO / "scripts" / "real-smtp"


@dataclass(frozen=True)
class RealSMTP:
    """A running Postfix test instance (scripts/real-smtp/start.sh), read from its env file."""

    dir: Path
    host: str
    tls_name: str
    """Name to verify the certificate against (``localhost``)."""
    plain_port: int
    """No TLS, no AUTH, loopback may relay."""
    smtps_port: int
    """Implicit TLS, AUTH required."""
    submission_port: int
    """STARTTLS required, then AUTH required."""
    mx_port: int
    """STARTTLS required, AUTH optional."""
    user: str
    password: str
    ca_path: Path
    maildir: Path
    log: Path
    pid: int

    @classmethod
    def from_env_file(cls, path: Path) -> RealSMTP:
        """Parse ``$REAL_SMTP_DIR/env`` (``REAL_SMTP_KEY=value`` lines).

        Raises:
            KeyError: a key is missing.  ValueError: a port or PID is not a number.
        """
        env: dict[str, str] = {}
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                env[key.strip()] = value.strip()
        return cls(
            dir=Path(env["REAL_SMTP_DIR"]),
            host=env["REAL_SMTP_HOST"],
            tls_name=env["REAL_SMTP_TLS_NAME"],
            plain_port=int(env["REAL_SMTP_PLAIN_PORT"]),
            smtps_port=int(env["REAL_SMTP_SMTPS_PORT"]),
            submission_port=int(env["REAL_SMTP_SUBMISSION_PORT"]),
            mx_port=int(env["REAL_SMTP_MX_PORT"]),
            user=env["REAL_SMTP_USER"],
            password=env["REAL_SMTP_PASSWORD"],
            ca_path=Path(env["REAL_SMTP_CA"]),
            maildir=Path(env["REAL_SMTP_MAILDIR"]),
            log=Path(env["REAL_SMTP_LOG"]),
            pid=int(env["REAL_SMTP_PID"]),
        )

    def is_running(self) -> bool:
        """True if the Postfix master of this instance is alive (not a zombie)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            comm = Path(f"/proc/{self.pid}/comm").read_text().strip()
        except OSError:
            return False
        state = stat.rpartition(")")[2].split()[0]
        return comm == "master" and state != "Z"

    def client_context(self) -> ssl.SSLContext:
        """A client TLS context trusting only this instance's CA (verify ``tls_name``)."""
        return ssl.create_default_context(cafile=str(self.ca_path))


MessageMatch = str | Callable[[EmailMessage], bool]


def wait_for_delivery(
    real_smtp: RealSMTP, predicate_or_message_id: MessageMatch, timeout: float = 10.0
) -> EmailMessage:
    """Poll the instance's Maildir until a message matches; return it parsed.

    ``predicate_or_message_id`` is a Message-ID (with or without angle brackets) or a
    predicate on the parsed message.  Postfix delivers some 20-80 ms after its 250 reply.

    Raises:
        AssertionError: nothing matched within ``timeout`` seconds, or the Maildir is not
            readable by this user.
    """
    predicate = _as_predicate(predicate_or_message_id)
    deadline = time.monotonic() + timeout
    while True:
        try:
            found, seen = _find(real_smtp.maildir, predicate)
        except PermissionError as exc:
            raise AssertionError(
                f"cannot read {real_smtp.maildir} ({exc}); start Postfix with "
                "REAL_SMTP_MAIL_UID / REAL_SMTP_MAIL_GID set to the test user's ids"
            ) from exc
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"no matching message in {real_smtp.maildir} after {timeout} s "
                f"({seen} messages there; Postfix log: {real_smtp.log})"
            )
        time.sleep(0.05)


def _as_predicate(match: MessageMatch) -> Callable[[EmailMessage], bool]:
    if not isinstance(match, str):
        return match
    wanted = match.strip().strip("<>")
    return lambda msg: str(msg.get("Message-ID", "")).strip().strip("<>") == wanted


def _find(
    maildir: Path, predicate: Callable[[EmailMessage], bool]
) -> tuple[EmailMessage | None, int]:
    """The first message in ``maildir`` that matches, and how many messages are there."""
    messages = maildir_messages(maildir)
    for msg in messages:
        if predicate(msg):
            return msg, len(messages)
    return None, len(messages)


_PARSED: dict[tuple[Path, str], EmailMessage] = {}
"""Messages already parsed, by Maildir and key: Postfix moves a finished file into ``new``
at once (never rewrites it), and the shared Maildir holds hundreds of messages by the end
of a run, which every poll of every wait parsed again (seconds a wait under load)."""


def maildir_messages(maildir: Path) -> list[EmailMessage]:
    """Every message in ``maildir`` now, parsed (each file once per test process)."""
    box = mailbox.Maildir(maildir, create=False)
    found: list[EmailMessage] = []
    for key in list(box.iterkeys()):  # a snapshot: Postfix may add files meanwhile
        msg = _PARSED.get((maildir, key))
        if msg is None:
            try:
                raw = box.get_bytes(key)
            except (KeyError, FileNotFoundError):  # moved or deleted meanwhile
                continue
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            _PARSED[(maildir, key)] = msg
        found.append(msg)
    return found


def running_as_root() -> bool:
    """True when the tests run as root (needed to start Postfix)."""
    return os.geteuid() == 0


class LiveServer:
    """The real ASGI app served by uvicorn on 127.0.0.1:<free port>, in a thread."""

    def __init__(self, app: object) -> None:
        import socket
        import threading

        import uvicorn

        # IPPROTO_TCP: asyncio turns Nagle off only for sockets made with it (40 ms stalls).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")  # type: ignore[arg-type]
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start within 10 s")
            time.sleep(0.02)

    def close(self) -> None:
        """Stop the server and wait for its thread (at most 10 s)."""
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


# The threads a running delivery engine holds: its database thread (a DeliveryEngine's,
# the relay worker's too: both are DeliveryEngines) and an in-process relay's loop thread
# (tests/relay/relay_support.py).  Each ends when the engine or relay is stopped.
ENGINE_THREAD_PREFIXES = ("tocsin-outbox",)
ENGINE_THREAD_NAMES = ("relay",)


def engine_threads() -> set[threading.Thread]:
    """The live threads of delivery engines and in-process relays in this process."""
    return {
        t
        for t in threading.enumerate()
        if t.name.startswith(ENGINE_THREAD_PREFIXES) or t.name in ENGINE_THREAD_NAMES
    }


def assert_no_engine_left(before: set[threading.Thread], grace: float = 2.0) -> None:
    """Fail if an engine or relay thread not in ``before`` is still alive after ``grace``
    seconds: it would go on using a store its test has closed ("claiming deliveries
    failed … Cannot operate on a closed database" in whichever test runs next).

    Raises:
        AssertionError: naming the threads left running.
    """
    deadline = time.monotonic() + grace
    for thread in engine_threads() - before:
        thread.join(max(0.0, deadline - time.monotonic()))
    left = sorted(t.name for t in engine_threads() - before if t.is_alive())
    assert not left, (
        f"still running after the test and its fixtures ended: {left}; stop the engine "
        "(set its stop event and await it) or the relay (stop()) before its store closes"
    )


def run_tocsin(data: Path, *args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    """``python -m tocsin ARGS`` on the data directory ``data``, in a terminal ``columns``
    wide without colours; the finished process, whatever its exit status."""
    env = {**os.environ, "TOCSIN_DATA": str(data), "COLUMNS": str(columns), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tocsin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tocsin_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run ``python -m tocsin ARGS`` as a user would; its stdout (asserting exit status 0)."""
    done = subprocess.run(
        [sys.executable, "-m", "tocsin", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class Serving:
    """A running ``tocsin serve``: its URL, process, and what it printed so far."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self._lines.append(line)

    def output(self) -> str:
        """Everything printed so far (stdout and stderr)."""
        with self._lock:
            return "".join(self._lines)

    def wait_for_output(self, text: str, timeout: float = 20.0) -> None:
        """Wait until ``text`` was printed; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.process.poll() is None, f"tocsin serve exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout} s:\n{self.output()}"
            time.sleep(0.05)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait (at most ``timeout`` s, else kill); the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"tocsin serve did not stop within {timeout} s") from None
        finally:
            self._reader.join(10)
            assert self.process.stdout is not None
            self.process.stdout.close()
        return self.process.returncode


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_serve(env: dict[str, str], *args: str) -> Serving:
    """``python -m tocsin serve ARGS`` started on a free port (stop it with ``stop()``)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return Serving(process, f"http://127.0.0.1:{port}")


def _pg_server() -> str:
    return os.environ.get("TOCSIN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def pg_store() -> Iterator[PostgresStore]:
    """A PostgreSQL store on a fresh schema of its own (migrated), dropped when the block
    ends.  Fails (never skips) when the server is down."""
    from tocsin.store.postgres import PostgresStore

    store = PostgresStore(_pg_server(), schema=f"tocsin_{os.getpid()}_{uuid.uuid4().hex[:10]}")
    try:
        yield store
    finally:
        store.drop_schema()
        store.close()


@contextmanager
def pg_schema_url() -> Iterator[str]:
    """A URL into a fresh PostgreSQL schema of its own (for processes that take only a
    URL), the schema dropped when the block ends."""
    import psycopg
    from psycopg import sql

    server = _pg_server()
    name = f"tocsin_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield f"{server}?options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@contextmanager
def serving(env: dict[str, str], *args: str, ready: bool = True) -> Iterator[Serving]:
    """``tocsin serve ARGS`` on a free port until the block ends (then SIGTERM).

    With ``ready``, waits until it answered /healthz (at most 20 s).  Asserts that it
    stopped cleanly: exit status 0, no traceback in its output.
    """
    running = start_serve(env, *args)
    try:
        if ready:
            _wait_until_healthy(running)
        yield running
    finally:
        status = running.stop()
    assert status == 0, running.output()
    assert "Traceback" not in running.output(), running.output()


def _wait_until_healthy(running: Serving) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{running.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert running.process.poll() is None, f"tocsin serve exited:\n{running.output()}"
        assert time.monotonic() < deadline, "tocsin serve did not answer within 20 s"
        time.sleep(0.1)


@contextmanager
def tocsin_serve(env: dict[str, str], *args: str) -> Iterator[str]:
    """``tocsin serve`` on a free port until the block ends (then SIGTERM); its base URL.

    Asserts that it answered /healthz within 20 s and stopped cleanly: exit status 0,
    no traceback in its output.
    """
    with serving(env, *args) as running:
        yield running.url


@contextmanager
def small_disk(where: Path, size: str = "4m") -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``where`` (created) until the block ends.

    Needs root (CI runs as root); fails, never skips, without it.
    """
    if not running_as_root():
        pytest.fail("a small real disk (mount -t tmpfs) needs root; run the tests as root")
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        check=True,
        timeout=30,
    )
    try:
        yield where
    finally:
        done = subprocess.run(["umount", str(where)], capture_output=True, timeout=30, check=False)
        if done.returncode != 0:  # still busy (a process that failed to stop): detach it
            subprocess.run(["umount", "-l", str(where)], timeout=30, check=False)


def free_bytes(path: Path) -> int:
    """Free bytes of the file system holding ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill_disk(filler: Path, *, leave: int) -> int:
    """Write ``filler`` so that about ``leave`` bytes stay free; its size."""
    size = max(free_bytes(filler.parent) - leave, 0)
    chunk = b"\0" * 65536
    with filler.open("wb") as out:
        written = 0
        while written < size:
            written += out.write(chunk[: min(len(chunk), size - written)])
    return size


def read_terminal_until(fd: int, wanted: bytes, deadline: float) -> bytes:
    """What the terminal shows until ``wanted`` appears (or the process closes it)."""
    seen = b""
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side of the pty is closed
            break
        if not chunk:
            break
        seen += chunk
    return seen


def one_shared_round(
    commits: GroupCommit, job: Callable[[int, SQLTransaction], T], jobs: int
) -> list[Future[T]]:
    """``job(index, tx)`` for each index below ``jobs``, through the group commit
    ``commits``: job 0 runs alone in a first round, held there until every other job
    waits behind it, so jobs 1 on share the next round.  Their futures, in order, done."""
    first_inside = threading.Event()
    release = threading.Event()

    def work(index: int) -> Callable[[SQLTransaction], T]:
        def run(tx: SQLTransaction) -> T:
            if index == 0:
                first_inside.set()
                assert release.wait(10)
            return job(index, tx)

        return run

    with ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(commits.run, work(0))]
        assert first_inside.wait(10)
        futures += [pool.submit(commits.run, work(i)) for i in range(1, jobs)]
        deadline = time.monotonic() + 10
        while len(commits._waiting) < jobs - 1:  # they queue behind the running round
            assert time.monotonic() < deadline, "the jobs did not queue behind the first"
            time.sleep(0.01)
        release.set()
        for future in futures:
            future.exception(10)  # done, failed or not
    return futures


def pipeline_syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on (until ``monkeypatch`` undoes it), each sync of a PostgreSQL pipeline
    by kind (``_sync_gen``, ``_exit_gen``): a round trip, the server answering up to it."""
    from psycopg import _pipeline_base

    base = _pipeline_base.BasePipeline
    seen: list[str] = []
    for name in ("_sync_gen", "_exit_gen"):
        real = getattr(base, name)

        def counted(self: object, real: Any = real, name: str = name) -> Any:
            seen.append(name)
            return real(self)

        monkeypatch.setattr(base, name, counted)
    return seen
