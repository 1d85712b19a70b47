"""A settings change reaches every worker process at once, against the real Postfix.

Two ``tocsin worker`` processes share one PostgreSQL database; each holds a pooled,
logged-in session to Postfix.  The admin changes the settings with the CLI, as on a
real installation:

- a wrong password: the next email is refused with the configuration pause by whichever
  worker claims it (here both, one after the other), never delivered over an old
  session; the sessions opened with the old password are closed;
- back to the right password: the held email goes out, nothing lost;
- another server (an aiosmtpd server with STARTTLS and AUTH): the next email sent by
  each worker reaches the new server, none reaches Postfix.

Which worker sends an email is made certain by stopping the other (SIGSTOP) while the
email is queued.  Pooled sessions are seen in ``/proc``: the sockets each worker holds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

import pytest
from outbox_support import enqueue

from helpers import RealSMTP, pg_schema_url, wait_for_delivery
from tocsin.outbox import Status
from tocsin.services.context import Services
from tocsin.testing import ThreadedSMTPTestServer

pytestmark = [pytest.mark.postfix, pytest.mark.postgres, pytest.mark.slow]

TO = "ops@example.net"
WRONG = "Wr0ng-But-Distinctive-Passw0rd"
NEW_USER = "alarms@example.com"
NEW_PASSWORD = "N3w-Server-Distinctive-Passw0rd"
WAIT = 30.0  # a loaded CI machine; each step takes about a second here


def until(check: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def sessions_to(pid: int, port: int) -> int:
    """Established TCP connections process ``pid`` holds to ``port`` (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            established = state == "01"
            if established and inode in inodes and int(remote.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


class Worker:
    """One ``tocsin worker`` process; its output goes to files."""

    def __init__(self, env: dict[str, str], directory: Path, name: str) -> None:
        self.stdout = directory / f"{name}.out"
        self.stderr = directory / f"{name}.err"
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tocsin", "worker"], env=env, stdout=out, stderr=err
            )
        self.pid = self.process.pid

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """The process frozen (SIGSTOP) for the block: it claims nothing meanwhile."""
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)

    def just_read_the_settings(self) -> None:
        """Return just after this worker's periodic settings read: frozen longer than
        the read's interval (1 s), its first round on waking reads them; the next
        periodic read is a second away, its next claim half a second (the poll)."""
        with self.stopped():
            time.sleep(1.2)
        time.sleep(0.15)

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Site:
    """A data directory and a PostgreSQL schema, used by the CLI, the workers and us."""

    def __init__(self, data: Path, url: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
        self.env |= {"TOCSIN_DATA": str(data), "TOCSIN_DATABASE_URL": url}
        self.env |= {"COLUMNS": "200", "NO_COLOR": "1"}
        self.outputs: list[str] = []
        self.services = Services.open(data, database_url=url)

    def cli(self, *args: str, stdin: str | None = None) -> None:
        """Run ``tocsin ARGS`` as the admin would; it must succeed."""
        done = subprocess.run(
            [sys.executable, "-m", "tocsin", *args],
            env=self.env, input=stdin, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        self.outputs += [done.stdout, done.stderr]
        assert done.returncode == 0, done.stdout + done.stderr

    def send(self, subject: str) -> int:
        return enqueue(self.services.store, TO, subject=subject)

    def delivery(self, email_id: int) -> tuple[Status, int, int | None, str]:
        view = self.services.store.get_email(email_id)
        assert view is not None
        (d,) = view.deliveries
        return d.status, d.attempts, d.last_code, d.last_error


def _subject(subject: str) -> Callable[[EmailMessage], bool]:
    return lambda msg: str(msg.get("Subject", "")) == subject


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL into a fresh schema of its own (dropped afterwards), for processes."""
    with pg_schema_url() as url:
        yield url


def test_two_workers_on_postgres_follow_a_settings_change_at_once(
    real_smtp: RealSMTP, pg_url: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:10]  # the Maildir is shared with other tests
    site = Site(tmp_path / "data", pg_url)
    postfix = real_smtp.submission_port
    site.cli(
        "settings", "set", "enabled=true", "encryption=starttls", "host=localhost",
        f"port={postfix}", "sender_address=alarm@example.com", f"username={real_smtp.user}",
        f"ca_file={real_smtp.ca_path}", "timeout=5",
    )  # fmt: skip
    site.cli("settings", "password", "--stdin", stdin=real_smtp.password + "\n")
    a, b = workers = [Worker(site.env, tmp_path, name) for name in ("a", "b")]
    new_server = ThreadedSMTPTestServer(
        tls="starttls", username=NEW_USER, password=NEW_PASSWORD, auth_required=True
    )

    def at_postfix(subject: str, timeout: float = WAIT) -> bool:
        """Whether Postfix delivered it; waiting ``timeout`` for it (failing), or not at all."""
        try:
            return bool(wait_for_delivery(real_smtp, _subject(subject), timeout=timeout))
        except AssertionError:
            if timeout > 0:
                raise
            return False

    def at_new_server(subject: str) -> bool:
        return any(str(m.message()["Subject"]) == subject for m in new_server.messages)

    def sends(sender: Worker, step: str, arrived: Callable[[str], object]) -> str:
        """An email sent by ``sender``: the other worker is frozen meanwhile."""
        subject = f"{tag} {step} by {sender.stdout.stem}"
        with (b if sender is a else a).stopped():
            site.send(subject)
            until(lambda: arrived(subject), f"{subject!r} to arrive")
        return subject

    def pooled_at(port: int) -> list[int]:
        return [sessions_to(w.pid, port) for w in workers]

    def change(**changes: str) -> None:
        """Save as the web page does (the service); validated, like every save."""
        _, report, saved = site.services.settings.update(changes)
        assert saved, report

    try:
        until(lambda: all("delivering" in w.output() for w in workers), "both workers to start")

        # 1. Each worker keeps a logged-in session to Postfix in its pool.
        sends(a, "first", at_postfix)
        sends(b, "first", at_postfix)
        assert all(pooled_at(postfix)), pooled_at(postfix)

        # 2. A wrong password, right after a's periodic settings read: only the
        # fingerprint makes a look again before its next claim.  Refused with the pause
        # by a, then by b (the held email is due at once), never sent over an old session.
        subject = f"{tag} after the wrong password"
        with b.stopped():
            a.just_read_the_settings()
            change(password=WRONG)
            held = site.send(subject)
            until(lambda: "delivery paused" in a.output() or at_postfix(subject, 0),
                  "a to pause")  # fmt: skip
            assert not at_postfix(subject, 0), "sent over the session of the old password"
        until(lambda: "delivery paused" in b.output(), "b to pause in turn")
        # Held, not spent: back in the queue once b's verdict is written.
        until(lambda: site.delivery(held)[0] is Status.QUEUED, "the held email's verdict")
        status, attempts, code, error = site.delivery(held)
        assert (status, attempts, code) == (Status.QUEUED, 0, 535), error
        for w in workers:
            assert "535" in w.output(), w.output()
        until(lambda: not any(pooled_at(postfix)), "the old sessions to close")
        assert not at_postfix(subject, 0)

        # 3. The right password again (the CLI): the held email goes out; both pool anew.
        site.cli("settings", "password", "--stdin", stdin=real_smtp.password + "\n")
        assert at_postfix(subject)
        until(lambda: site.delivery(held)[0] is Status.SENT, "the held email's verdict")
        sends(a, "second", at_postfix)
        sends(b, "second", at_postfix)
        assert all(pooled_at(postfix)), pooled_at(postfix)

        # 4. Another server, account and CA in one save, right after b's periodic read:
        # b's next email goes there, then a's; none to Postfix.
        new_server.start()
        subject = f"{tag} third by b"
        with a.stopped():
            b.just_read_the_settings()
            change(
                host="127.0.0.1", port=str(new_server.port), ca_file=str(new_server.ca.ca_path),
                username=NEW_USER, password=NEW_PASSWORD,
            )  # fmt: skip
            site.send(subject)
            until(lambda: at_new_server(subject) or at_postfix(subject, 0), f"{subject!r}")
            assert at_new_server(subject), "sent to the old server over its pooled session"
        sends(a, "third", at_new_server)
        until(lambda: not any(pooled_at(postfix)), "the sessions to Postfix to close")
        for name in ("a", "b"):
            assert not at_postfix(f"{tag} third by {name}", 0)
        got = sorted(str(m.message()["Subject"]) for m in new_server.messages)
        assert got == [f"{tag} third by a", f"{tag} third by b"]
        assert all(m.login == NEW_USER and m.tls for m in new_server.messages)
    finally:
        for w in workers:
            w.end()
            print(f"--- worker {w.stdout.stem}:\n{w.output()}")  # shown if the test fails
        new_server.stop()
        site.services.close()
    logs = [w.output() for w in workers] + site.outputs
    for secret in (WRONG, NEW_PASSWORD, real_smtp.password):
        assert not any(secret in text for text in logs), "a password in the output"
