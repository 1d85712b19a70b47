"""The intake's routes come first in the app (issue 11): the same answers as behind the rest.

The router tries routes in order, so moving the events router to the front saves the
intake the matching of every settings and outbox route.  That is only safe while no
other route can match an ``/api/v1/events`` path and no events route another path.
"""

from __future__ import annotations

import re

import httpx

from helpers import LiveServer
from tocsin.app import create_app
from tocsin.services.context import Services

EVENTS = "/api/v1/events"


def _pattern(template: str) -> re.Pattern[str]:
    """The paths a route template matches (a parameter: one path segment)."""
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


def _example(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", template)


def test_no_other_route_shares_a_path_with_the_intake(services: Services) -> None:
    paths = list(create_app(services).openapi()["paths"])
    ours = [p for p in paths if p == EVENTS or p.startswith(EVENTS + "/")]
    others = [p for p in paths if p not in ours]
    assert {
        EVENTS,
        f"{EVENTS}/purge",
        f"{EVENTS}/{{event_id}}",
        f"{EVENTS}/{{event_id}}/ack",
    } <= set(ours)
    for mine in ours:
        for other in others:
            assert not _pattern(other).match(_example(mine)), (other, mine)
            assert not _pattern(mine).match(_example(other)), (mine, other)


def test_the_intake_and_its_neighbours_answer_as_before(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post(EVENTS, json={}).status_code == 401  # the intake, no token
        assert client.get(EVENTS).status_code == 401
        assert client.post(f"{EVENTS}/purge").status_code == 401
        assert client.post(f"{EVENTS}/e1/ack").status_code == 401
        for method, path in [
            ("DELETE", EVENTS),
            ("PUT", f"{EVENTS}/purge"),
            ("GET", f"{EVENTS}/e1/ack"),
        ]:
            wrong = client.request(method, path)  # the path is known, the method is not
            # As before the move: the first route whose path matched names its method.
            assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST"), (method, path)
            assert wrong.json() == {"detail": "Method Not Allowed"}
        assert client.post(f"{EVENTS}x").json() == {"detail": "Not Found"}
        assert client.post("/api/v1/settings/x").status_code == 404
        assert client.get("/api/v1/settings").status_code == 401
        assert client.get("/api/v1/outbox").status_code == 401
        assert client.get("/healthz").status_code == 200
