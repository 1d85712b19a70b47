"""``tocsin worker`` reads the failover chain saved with the CLI: with the primary's
server gone, an alarm goes through the backup link, the delivery log names it, and the
``delivery_failover`` system notice is raised once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from outbox_support import mail

from tocsin.outbox import Priority, Status
from tocsin.services.context import Services
from tocsin.testing import ThreadedSMTPTestServer

WAIT = 30.0


def tocsin(data: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tocsin", *args, "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_worker_fails_over_and_tells_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ThreadedSMTPTestServer() as gone:
        port = gone.port  # then stopped: the primary refuses connections
    with ThreadedSMTPTestServer() as backup:
        tocsin(data, "settings", "set", "enabled=true", "host=127.0.0.1", f"port={port}",
               "encryption=none", "sender_address=alarm@example.com", "timeout=2",
               "deadline=3")  # fmt: skip
        tocsin(data, "settings", "failover", "link", "1", "host=127.0.0.1",
               f"port={backup.port}", "encryption=none")  # fmt: skip
        tocsin(data, "settings", "failover", "set", "enabled=true", "after_failures=1")
        services = Services.open(data)
        worker = subprocess.Popen(
            [sys.executable, "-m", "tocsin", "worker", "--data", str(data)],
            env=os.environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            email_id = services.outbox.enqueue(mail("ops@example.net"), Priority.FIRE)
            deadline = time.monotonic() + WAIT
            while True:
                (row,) = services.outbox.show(email_id).deliveries
                problems = services.events.open_system_problems()
                if row.status is Status.SENT and "delivery_failover" in problems:
                    break
                assert time.monotonic() < deadline, (row, problems)
                time.sleep(0.1)
            assert row.link == "backup-1"
            assert len(backup.messages) == 1
        finally:
            worker.terminate()
            try:
                _, err = worker.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                _, err = worker.communicate()
            services.close()
    assert b"Traceback" not in err
