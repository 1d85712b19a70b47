"""POST /api/v1/events through the ASGI app: the event loop's CPU per request (issue 11).

The intake's endpoint runs the token check, decoding, store and render on a worker
thread; what the event loop itself spends on a request is the ASGI stack around it.
This drives the app in process (no server, no socket: a plain ASGI call with the
request's scope, body and a ``send`` that keeps the answer) on uvloop, as ``tocsin
serve`` runs it, and measures the loop thread's CPU (``time.thread_time``) per POST::

    .venv/bin/python bench/intake_lane_bench.py               # 400 requests each way
    .venv/bin/python bench/intake_lane_bench.py --requests 1000 --runs 5

Three ways, alternating request by request so that the machine's other work falls on
each alike: ``app`` (as served: :class:`tocsin.api.app.EventsLane` takes the POST past
the router), ``router`` (the same app without the lane: FastAPI's router, request
handler and dependency solving), and ``endpoint`` (the endpoint called bare, with only
the security headers: what no stack at all would cost).  Every answer must be a 202.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

Message = dict[str, Any]
App = Callable[[dict[str, Any], Callable[[], Awaitable[Message]], Any], Awaitable[None]]


def _scope(body: bytes, token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/events",
        "raw_path": b"/api/v1/events",
        "root_path": "",
        "query_string": b"",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "state": {},
    }


async def _post(app: App, token: str, payload: object) -> int:
    """One POST through ``app``: the loop thread's CPU in ns (the answer must be 202)."""
    body = json.dumps(payload).encode()
    answers: list[Message] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:  # the app asks again only to watch for a disconnect
            await asyncio.Event().wait()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        answers.append(message)

    began = time.thread_time_ns()
    await app(_scope(body, token), receive, send)
    spent = time.thread_time_ns() - began
    if answers[0]["status"] != 202:
        raise RuntimeError(f"answered {answers[0]['status']}: {answers[1:]!r}")
    return spent


def _ways(services: object) -> dict[str, App]:
    from starlette.requests import Request

    from tocsin.api import events as events_routes
    from tocsin.api.app import EventsLane, SecurityHeaders
    from tocsin.app import create_app

    served = create_app(services)  # type: ignore[arg-type]
    router = create_app(services)  # type: ignore[arg-type]
    router.user_middleware = [m for m in router.user_middleware if m.cls is not EventsLane]

    async def endpoint(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["app"] = served
        response = await events_routes.post_events(Request(scope, receive, send))
        await response(scope, receive, send)

    return {"app": served, "router": router, "endpoint": SecurityHeaders(endpoint)}  # type: ignore[dict-item]


async def _measure(ways: dict[str, App], token: str, requests: int, tag: str) -> dict[str, float]:
    from alarm_path_bench import event

    spent: dict[str, list[int]] = {name: [] for name in ways}
    for i in range(requests):
        for name, app in ways.items():
            spent[name].append(await _post(app, token, event(f"{tag}-{name}", i)))
    return {name: statistics.median(values) / 1e3 for name, values in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400, help="requests each way per run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import os

    import uvloop
    from alarm_path_bench import prepare

    from tocsin.services.context import Services

    work = Path(tempfile.mkdtemp(prefix="tocsin-lane-bench-"))
    try:
        token = prepare(work / "data", "", 2525)  # no mail is sent: the port is never used
        services = Services.open(work / "data")
        try:
            ways = _ways(services)
            uvloop.run(_measure(ways, token, 30, "warm-up"))
            runs = [
                uvloop.run(_measure(ways, token, args.requests, f"r{r}")) for r in range(args.runs)
            ]
        finally:
            services.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"event-loop CPU per POST /api/v1/events (µs), median of {args.requests} requests, "
        f"{args.runs} runs; load {os.getloadavg()[0]:.2f}"
    )
    for name in ways:
        values = [run[name] for run in runs]
        print(f"  {name:9s} {statistics.median(values):7.1f}  {[round(v, 1) for v in values]}")
    saved = [run["router"] - run["app"] for run in runs]
    print(
        f"  the lane saves {statistics.median(saved):.1f} µs a request {[round(s) for s in saved]}"
    )


if __name__ == "__main__":
    main()
