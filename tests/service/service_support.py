"""Helpers of the service tests: a site set up with the CLI, as an admin would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tocsin.services.context import Services
from tocsin.testing import ThreadedSMTPTestServer


def service_env(data: Path, **extra: str) -> dict[str, str]:
    """The environment of the CLI and ``tocsin serve`` for the data directory ``data``."""
    return {**os.environ, "TOCSIN_DATA": str(data), "NO_COLOR": "1", **extra}


def start_worker(env: dict[str, str]) -> subprocess.Popen[str]:
    """``tocsin worker`` in a process of its own, its output (stdout and stderr) piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "tocsin", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def set_up_site(
    env: dict[str, str], smtp_port: int, *, enabled: bool = True, **settings: object
) -> tuple[str, str]:
    """Email to a test server on 127.0.0.1, one user told of everything (system notices
    too), an events token and an admin token: (events token, admin token).

    Done through the services in this process (the CLI does the same, seconds slower;
    tests/test_serve.py sets a site up with it).
    """
    services = Services.open(Path(env["TOCSIN_DATA"]), database_url=env.get("TOCSIN_DATABASE_URL"))
    try:
        _, report, saved = services.settings.update(
            {
                "enabled": enabled,
                "encryption": "none",
                "host": "127.0.0.1",
                "port": smtp_port,
                "sender_address": "alarm@example.com",
                "sender_name": "Plant room",
                "ehlo_name": "tocsin.test",
                **settings,
            }
        )
        assert saved, report
        services.sites.import_site(
            {
                "groups": [{"id": "site", "name": "Site"}],
                "users": [
                    {
                        "id": "ops",
                        "name": "Ops",
                        "email": "ops@example.net",
                        "groups": ["site"],
                        "categories": ["always", "system"],
                    }
                ],
            }
        )
        token, _ = services.accounts.create_token("gateway", ("events",))
        admin, _ = services.accounts.create_token("admin", ("admin",))
    finally:
        services.close()
    return token, admin


def alarm(device: str) -> dict[str, str]:
    """An alarm event from ``device`` (what a gateway posts)."""
    return {
        "group": "site",
        "device": device,
        "sensor": "Temperature",
        "category": "always",
        "severity": "alarm",
    }


def subjects(smtp: ThreadedSMTPTestServer) -> list[str]:
    """The subjects of every message the server took, in order."""
    return [str(m.message()["Subject"]) for m in smtp.messages]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` every 0.1 s; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)
