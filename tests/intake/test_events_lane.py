"""POST /api/v1/events takes a lane past the router (issue 11): every answer the same
as the router's, over real HTTP servers side by side (one app with the lane, one without)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from intake_support import event

import tocsin.api.app
from helpers import LiveServer
from tocsin.api.app import EventsLane
from tocsin.app import create_app
from tocsin.errors import StorageFull
from tocsin.services.context import Services

URL = "/api/v1/events"
ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
CUTOFF = re.compile(r'"cutoff":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"')
VARYING = {"date", "server", "content-length"}  # the moment, and ids of the same length
HOST = re.compile(r"127\.0\.0\.1:\d+")  # each server's own port (a redirect's Location)


def _router_only(services: Services) -> Any:
    app = create_app(services)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not EventsLane]
    return app


@pytest.fixture
def servers(services: Services) -> Iterator[tuple[LiveServer, LiveServer]]:
    lane, router = LiveServer(create_app(services)), LiveServer(_router_only(services))
    yield lane, router
    lane.close()
    router.close()


@pytest.fixture
def tokens(services: Services) -> dict[str, str]:
    return {
        scope: services.accounts.create_token(scope, (scope,))[0] for scope in ("events", "admin")
    }


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], str]:
    headers = {k: HOST.sub("HOST", v) for k, v in response.headers.items() if k not in VARYING}
    if response.status_code == 429:  # the seconds left, counted down between the two
        headers["retry-after"] = "N" if int(headers["retry-after"]) > 0 else "0"
        text = re.sub(r"\d+ s\b", "N s", response.text)
        return response.status_code, headers, text
    # The purge's cutoff is "now" less its age, to the second: two answers a moment
    # apart may straddle a second.
    text = CUTOFF.sub('"cutoff":"TIME"', ULID.sub("ID", response.text))
    return response.status_code, headers, text


def _both(
    servers: tuple[LiveServer, LiveServer], body: bytes, headers: dict[str, str], path: str = URL
) -> tuple[int, dict[str, str], str]:
    answers = []
    for server in servers:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answers.append(_answer(client.post(path, content=body, headers=headers)))
    lane, router = answers
    assert lane == router
    return lane


def _json(**overrides: Any) -> bytes:
    return json.dumps(event(**overrides)).encode()


CASES = {
    "accepted": ("events", _json()),
    "batch": ("events", json.dumps({"events": [event(), event(sensor="heat")]}).encode()),
    "no token": (None, _json()),
    "unknown token": ("tcn_wrong", _json()),
    "unknown token, bad body": ("tcn_wrong", b"{not json"),
    "unknown token, too large": ("tcn_wrong", _json(text="x" * 1_000_000)),
    "no events scope": ("admin", _json()),
    "malformed": ("events", b"{not json"),
    "too large": ("events", _json(text="x" * 1_000_000)),
    "unknown group": ("events", _json(group="nope")),
    "not an object": ("events", b"[1, 2]"),
    "empty": ("events", b""),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_answer_with_and_without_the_lane(servers, tokens, case):
    token, body = CASES[case]
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {tokens.get(token, token)}"
    status, answer_headers, _ = _both(servers, body, headers)
    assert "content-security-policy" in answer_headers  # the security headers, both ways
    assert status in {202, 400, 401, 403, 413, 422}


def test_a_basic_login_and_a_query_string_answer_the_same(servers, tokens):
    assert _both(servers, _json(), {"Authorization": "Basic YWRtaW46YWRtaW4="})[0] == 401
    auth = {"Authorization": f"Bearer {tokens['events']}"}
    assert _both(servers, _json(), auth, path=f"{URL}?lang=de")[0] == 202


def test_a_reused_client_event_id_conflicts_the_same(servers, tokens):
    auth = {"Authorization": f"Bearer {tokens['events']}"}
    for server in servers:  # each way posts its own first, then the conflict is compared
        with httpx.Client(base_url=server.url, timeout=30) as client:
            first = client.post(URL, json=event(client_event_id=server.url), headers=auth)
            assert first.status_code == 202
    assert _both(servers, _json(text="other"), auth)[0] == 202  # no client id: new each way
    for server in servers:
        conflict = json.dumps(event(client_event_id=server.url, text="other")).encode()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answer = client.post(URL, content=conflict, headers=auth)
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"] == "conflict"


def test_a_full_disk_and_a_bug_answer_the_same(servers, tokens, services, monkeypatch):
    auth = {"Authorization": f"Bearer {tokens['events']}"}

    def full(_: object) -> None:
        raise StorageFull("the data directory is full", where="the data directory")

    monkeypatch.setattr(services.events, "submit", full)
    status, headers, body = _both(servers, _json(), auth)
    assert (status, headers["retry-after"]) == (503, "60")
    assert json.loads(body)["error"] == "storage_full"

    def bug(_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(services.events, "submit", bug)
    status, _, body = _both(servers, _json(), auth)
    assert (status, body) == (500, "Internal Server Error")


def test_too_many_failed_tokens_answer_the_same(servers):
    with httpx.Client(base_url=servers[0].url, timeout=30) as client:
        for _ in range(30):
            answer = client.post(URL, json=event(), headers={"Authorization": "Bearer tcn_x"})
            if answer.status_code == 429:
                break
    assert answer.status_code == 429
    status, headers, _ = _both(servers, _json(), {"Authorization": "Bearer tcn_x"})
    assert (status, headers["retry-after"]) == (429, "N")


def test_other_methods_and_paths_go_to_the_router(servers, tokens):
    auth = {"Authorization": f"Bearer {tokens['admin']}"}
    for method, path in [
        ("GET", URL),
        ("DELETE", URL),
        ("PUT", URL),
        ("POST", f"{URL}/"),
        ("POST", f"{URL}x"),
        ("POST", f"{URL}/purge?dry_run=1"),
    ]:
        answers = []
        for server in servers:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                answers.append(_answer(client.request(method, path, headers=auth)))
        assert answers[0] == answers[1], (method, path)


def test_the_openapi_document_is_the_same(services):
    assert create_app(services).openapi() == _router_only(services).openapi()


def test_the_lane_is_taken(services, tokens, monkeypatch):
    seen: list[str] = []
    original = tocsin.api.app._post_events

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await original(scope, receive, send)

    monkeypatch.setattr(tocsin.api.app, "_post_events", spy)  # before the stack is built
    server = LiveServer(create_app(services))
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            auth = {"Authorization": f"Bearer {tokens['events']}"}
            assert client.post(URL, json=event(), headers=auth).status_code == 202
            assert client.get(URL, headers=auth).status_code == 403  # GET: the router's
    finally:
        server.close()
    assert seen == [URL]
