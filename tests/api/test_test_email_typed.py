"""The test email with the settings as typed: tried, never saved, the password never echoed."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tocsin.services.context import Services
from tocsin.services.test_email_limit import TestEmailLimit
from tocsin.testing import SMTPTestServer

USER, PASSWORD = "alarm@example.com", "correct horse battery staple"
OLD_PASSWORD = "the-saved-old-password"


def _save_old(api: httpx.Client, port: int, ca: str) -> dict[str, Any]:
    answer = api.patch(
        "/api/v1/settings",
        json={
            "host": "127.0.0.1",
            "port": port,
            "encryption": "starttls",
            "sender_address": USER,
            "username": USER,
            "password": OLD_PASSWORD,
            "ca_file": ca,
            "ehlo_name": "tocsin.test",
        },
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["settings"])


async def _stream(api: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    lines = []
    async with (
        httpx.AsyncClient(base_url=str(api.base_url), headers=api.headers, timeout=30) as client,
        client.stream("POST", "/api/v1/settings/test-email", json=body) as reply,
    ):
        assert reply.status_code == 200
        async for line in reply.aiter_lines():
            lines.append(json.loads(line))
    return lines


async def test_typed_host_and_password_are_tried_and_nothing_is_saved(
    api: httpx.Client, services: Services
) -> None:
    async with SMTPTestServer(tls="starttls", username=USER, password=PASSWORD) as srv:
        before = _save_old(api, 9, str(srv.ca.ca_path))  # port 9: nothing listens there
        stored = services.settings.fingerprint()
        typed = {"host": "localhost", "port": str(srv.port), "password": PASSWORD}
        lines = await _stream(api, {"to": "ops@example.net", "settings": typed})
    assert lines[-1]["type"] == "report", lines
    assert lines[-1]["ok"] is True
    assert len(srv.messages) == 1
    assert PASSWORD not in json.dumps(lines)
    # The saved settings are exactly as before: host, port and the old password.
    assert services.settings.fingerprint() == stored
    assert services.settings.load().public() == before
    password = services.settings.load().password
    assert password is not None
    assert password.reveal() == OLD_PASSWORD


async def test_a_password_left_out_is_the_saved_one(api: httpx.Client) -> None:
    async with SMTPTestServer(tls="starttls", username=USER, password=PASSWORD) as srv:
        _save_old(api, srv.port, str(srv.ca.ca_path))
        lines = await _stream(api, {"to": "ops@example.net", "settings": {"host": "localhost"}})
    steps = {(x["step"], x["status"]) for x in lines if x["type"] == "step"}
    assert ("auth", "fail") in steps  # the saved (old) password was used
    assert lines[-1]["ok"] is False
    assert srv.messages == []


async def test_typed_settings_are_validated_like_a_save(
    api: httpx.Client, services: Services
) -> None:
    secret = "never-echo-this-pass"
    typed = {"port": "99999", "password": secret, "colour": "red", "sender_address": "@x"}
    lines = await _stream(api, {"to": "ops@example.net", "settings": typed})
    (last,) = lines
    assert last["type"] == "refused"
    fields = {i["field"] for i in last["issues"] if i["level"] == "error"}
    assert {"port", "colour", "sender_address"} <= fields
    assert secret not in json.dumps(lines)
    _, report, saved = services.settings.update(typed)  # the same values, as a save
    assert not saved
    # Every error a save names, the test names too (plus what a test needs: the server).
    assert {i.field for i in report.errors} <= fields
    assert "host" in fields


async def test_delivered_tests_count_per_recipient_failures_do_not(
    api: httpx.Client, server: Any
) -> None:
    limit = TestEmailLimit(per_recipient=2)
    server._server.config.app.state.test_email_limiter = limit
    async with SMTPTestServer(tls="starttls", username=USER, password=PASSWORD) as srv:
        _save_old(api, srv.port, str(srv.ca.ca_path))  # the old password: tests fail
        for _ in range(3):
            lines = await _stream(api, {"to": "ops@example.net", "settings": {"host": "x.invalid"}})
            assert lines[-1]["ok"] is False
        good = {"host": "localhost", "password": PASSWORD}
        for _ in range(2):
            lines = await _stream(api, {"to": "ops@example.net", "settings": good})
            assert lines[-1]["ok"] is True
    assert limit.begin("ops@example.net") > 3500  # two delivered: this recipient waits
    assert limit.begin("else@example.net") == 0
