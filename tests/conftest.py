"""Shared fixtures.  Non-fixture helpers are in helpers.py."""

from __future__ import annotations

import gc
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from helpers import (
    REAL_SMTP_SCRIPTS,
    RealSMTP,
    assert_no_engine_left,
    engine_threads,
    running_as_root,
)
from tocsin.testing import unused_port

# Speed is measured in bench/, not in tests: no per-example deadline, which only
# flakes on a loaded machine (CI shares its two cores with other work).
hypothesis_settings.register_profile("tocsin", deadline=None, print_blob=True)
hypothesis_settings.load_profile("tocsin")


@pytest.fixture(autouse=True)
def _no_leaks_past_the_test() -> Iterator[None]:
    """Collect garbage after every test, so a leak fails the test that made it.

    An unclosed socket or transport warns (an error here) only when it is collected;
    without this that happens in whichever later test the collector runs in, far from
    the cause.  ``python -X tracemalloc=25 -m pytest …`` shows where it was allocated.
    """
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def _no_engine_outlives_the_test() -> Iterator[None]:
    """Fail the test after whose teardown a delivery engine or relay is still running.

    Autouse, so it is set up before the test's other fixtures and checks after all of
    them are torn down: an engine still claiming then uses a store its fixture closed.
    """
    before = engine_threads()
    yield
    assert_no_engine_left(before)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what importing the tests made, so each collection above skips it.

    Modules, classes and caches live for the whole run; left tracked, every test's
    collection walks them again (about 0.2 s a test here, half that frozen).
    """
    gc.collect()
    gc.freeze()


_START_ATTEMPTS = 3  # free ports are picked without a lock; retry if one got taken


def _answers(instance: RealSMTP) -> bool:
    """True if the instance's plain port takes connections (works across PID namespaces)."""
    try:
        with socket.create_connection((instance.host, instance.plain_port), timeout=2):
            return True
    except OSError:
        return False


def _running_instance(state: Path) -> RealSMTP | None:
    env_file = state / "env"
    if not env_file.is_file():
        return None
    instance = RealSMTP.from_env_file(env_file)
    return instance if _answers(instance) else None


def _start_own() -> tuple[RealSMTP, dict[str, str]]:
    """Start a private instance in a fresh directory on free ports; (instance, its env)."""
    errors = ""
    for _ in range(_START_ATTEMPTS):
        state = tempfile.mkdtemp(prefix="tocsin-real-smtp-")
        env = {**os.environ, "REAL_SMTP_DIR": state}
        for name in ("PLAIN", "SMTPS", "SUBMISSION", "MX"):
            env[f"REAL_SMTP_{name}_PORT"] = str(unused_port())
        done = subprocess.run(
            ["bash", str(REAL_SMTP_SCRIPTS / "start.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,  # may apt-get install Postfix first
            check=False,
        )
        if done.returncode == 0:
            return RealSMTP.from_env_file(Path(state) / "env"), env
        errors = done.stderr
        _stop(env)
    pytest.fail(f"scripts/real-smtp/start.sh failed {_START_ATTEMPTS} times:\n{errors}")


def _stop(env: dict[str, str]) -> None:
    subprocess.run(
        ["bash", str(REAL_SMTP_SCRIPTS / "stop.sh")],
        env={**env, "REAL_SMTP_PURGE": "1"},
        capture_output=True,
        timeout=60,
        check=False,
    )
    shutil.rmtree(env["REAL_SMTP_DIR"], ignore_errors=True)


@pytest.fixture(scope="session")
def real_smtp() -> Iterator[RealSMTP]:
    """The real Postfix test instance (see scripts/real-smtp/start.sh).

    Uses the instance running in ``$REAL_SMTP_DIR`` (default
    ``${TMPDIR:-/tmp}/tocsin-real-smtp``) if its env file is there and it answers;
    otherwise, as root, starts a private one on free ports and stops it at the end of the
    session.  Fails (never skips) when neither is possible, so CI cannot skip silently.
    """
    default = Path(os.environ.get("TMPDIR") or "/tmp") / "tocsin-real-smtp"
    state = Path(os.environ.get("REAL_SMTP_DIR") or default)
    instance = _running_instance(state)
    if instance is not None:
        yield instance
        return
    if not running_as_root():
        pytest.fail(
            f"no running Postfix test instance in {state} (no env file, or it does not "
            "answer), and starting one needs root. Run `sudo scripts/real-smtp/start.sh` "
            "(set REAL_SMTP_DIR to use another directory), or run the tests as root."
        )
    instance, env = _start_own()
    try:
        yield instance
    finally:
        _stop(env)
