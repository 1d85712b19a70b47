"""``run_service``: the loop ``tocsin serve`` and ``tocsin worker`` run on."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tocsin.deploy.event_loop import run_service


async def _loop_module(seen: list[str]) -> None:
    seen.append(type(asyncio.get_running_loop()).__module__)


def test_the_service_runs_on_uvloop_where_it_is_installed() -> None:
    pytest.importorskip("uvloop")
    seen: list[str] = []
    run_service(_loop_module(seen))
    assert len(seen) == 1
    assert seen[0].startswith("uvloop")


def test_without_uvloop_the_service_runs_on_asyncios_own_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    seen: list[str] = []
    run_service(_loop_module(seen))
    assert len(seen) == 1
    assert seen[0].startswith("asyncio")


def test_the_worker_command_runs_on_the_same_loop_as_serve() -> None:
    """``tocsin worker`` ran on asyncio's own loop while serve ran on uvloop: a delivery
    process spent 185-191 µs of CPU an email instead of 159-168 (outbox bench)."""
    import inspect

    from tocsin.cli import outbox, serve

    for command in (outbox.worker, serve.serve):
        source = inspect.getsource(command)
        assert "run_service(" in source, command.__name__
        assert "asyncio.run(" not in source, command.__name__
