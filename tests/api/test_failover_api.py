"""REST: the failover chain's settings, and the test email through one backup link."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from helpers import RealSMTP
from tocsin.services.context import Services
from tocsin.testing import SMTPTestServer
from web.relay_for_web import SENDER, running_relay

USER, PASSWORD = "alarms@example.com", "Backup-L1nk-Passw0rd"


def test_failover_is_validated_by_field_and_secrets_are_write_only(api: httpx.Client) -> None:
    api.patch("/api/v1/settings", json={"host": "mail.example.com", "sender_address": USER})
    refused = api.patch(
        "/api/v1/settings/failover",
        json={"enabled": True, "links": [{"host": "bad host", "port": 70000}]},
    )
    assert refused.status_code == 422
    fields = {i["field"] for i in refused.json()["issues"] if i["level"] == "error"}
    assert fields == {"links.0.host", "links.0.port"}
    assert api.get("/api/v1/settings/failover").json()["failover"]["links"] == []
    saved = api.patch(
        "/api/v1/settings/failover",
        json={
            "enabled": True,
            "after_seconds": 30,
            "links": [
                {"host": "backup.example.net", "username": USER, "password": PASSWORD},
            ],
        },
    )
    assert saved.status_code == 200, saved.json()
    assert PASSWORD not in saved.text
    doc = api.get("/api/v1/settings/failover").json()["failover"]
    assert doc["after_seconds"] == 30
    assert doc["warnings_follow"] is False  # warnings wait for the primary by default
    (link,) = doc["links"]
    assert (link["name"], link["host"], link["password_set"]) == (
        "backup-1",
        "backup.example.net",
        True,
    )
    assert link["password"] is None
    german = api.patch("/api/v1/settings/failover?lang=de", json={"after_failures": 0})
    assert german.status_code == 422
    assert "Geben Sie" in german.json()["issues"][0]["message"]


async def test_the_test_email_goes_through_the_chosen_link(
    api: httpx.Client, services: Services
) -> None:
    async with SMTPTestServer() as primary, SMTPTestServer() as backup:
        primary_settings = {
            "host": "127.0.0.1",
            "port": primary.port,
            "encryption": "none",
            "sender_address": USER,
        }
        assert services.settings.update(primary_settings)[2]
        link = {"host": "127.0.0.1", "port": backup.port, "encryption": "none"}
        assert services.failover.update({"links": [link]})[2]
        async with httpx.AsyncClient(
            base_url=str(api.base_url), headers=api.headers, timeout=30
        ) as client:
            async with client.stream(
                "POST", "/api/v1/settings/test-email", json={"to": "ops@example.net", "link": 1}
            ) as reply:
                assert reply.status_code == 200
                lines = [json.loads(line) async for line in reply.aiter_lines()]
            assert lines[-1]["type"] == "report"
            assert lines[-1]["ok"] is True
            assert (len(primary.messages), len(backup.messages)) == (0, 1)
            async with client.stream(
                "POST", "/api/v1/settings/test-email", json={"to": "ops@example.net", "link": 2}
            ) as reply:
                last = [json.loads(line) async for line in reply.aiter_lines()][-1]
        assert last["type"] == "refused"
        assert last["issues"][0]["field"] == "link"


def test_online_links_are_refused_by_field_and_their_token_is_write_only(
    api: httpx.Client,
) -> None:
    api.patch("/api/v1/settings", json={"host": "mail.example.com", "sender_address": USER})
    url = "/api/v1/settings/failover"
    plain = {"transport": "online", "relay_url": "http://relay.example.com"}
    refused = api.patch(url, json={"links": [plain | {"device_credential": "t"}]})
    assert refused.status_code == 422
    (issue,) = [i for i in refused.json()["issues"] if i["level"] == "error"]
    assert issue["field"] == "links.0.relay_url"
    assert "https://relay.example.com" in issue["message"]
    no_token = {"transport": "online", "relay_url": "https://relay.example.com"}
    refused = api.patch(url + "?lang=de", json={"links": [no_token]})
    assert refused.status_code == 422
    (issue,) = [i for i in refused.json()["issues"] if i["level"] == "error"]
    assert issue["field"] == "links.0.device_credential"
    assert issue["message"].startswith("Geben Sie das Geräte-Token des Online-Dienstes")
    many = api.patch(url, json={"links": [{"host": f"h{n}.example"} for n in range(4)]})
    assert many.status_code == 422
    (issue,) = many.json()["issues"]
    assert (issue["field"], issue["code"], issue["message"]) == (
        "links",
        "too_many_links",
        "At most 3 backup links: remove one before adding another.",
    )
    assert api.get(url).json()["failover"]["links"] == []  # nothing of it saved
    token = "tcd_api-Token-77"
    saved = api.patch(url, json={"links": [no_token | {"device_credential": token}]})
    assert saved.status_code == 200, saved.json()
    (link,) = api.get(url).json()["failover"]["links"]
    assert (link["device_credential"], link["device_credential_set"]) == (None, True)
    assert token not in saved.text + api.get(url).text


async def test_the_test_email_goes_through_an_online_link_to_the_real_relay(
    api: httpx.Client, services: Services, tmp_path: Path, real_smtp: RealSMTP
) -> None:
    assert services.settings.update({"host": "mail.example.com", "sender_address": SENDER})[2]
    with running_relay(tmp_path, deliver_to=real_smtp) as relay:
        submitted: list[int] = []
        relay.relay.service.on_enqueue = lambda: submitted.append(1)
        link = {
            "transport": "online",
            "relay_url": relay.url,
            "device_credential": "tcd_not-issued",
            "ca_file": str(relay.ca.ca_path),
        }
        assert services.failover.update({"links": [link]})[2]
        async with httpx.AsyncClient(
            base_url=str(api.base_url), headers=api.headers, timeout=60
        ) as client:

            async def last_line() -> dict[str, object]:
                async with client.stream(
                    "POST", "/api/v1/settings/test-email", json={"to": "ops@example.net", "link": 1}
                ) as reply:
                    assert reply.status_code == 200
                    lines = [json.loads(line) async for line in reply.aiter_lines()]
                result: dict[str, object] = lines[-1]
                return result

            refused = await last_line()
            assert (refused["type"], refused["ok"]) == ("report", False)
            assert "tcd_not-issued" not in json.dumps(refused)
            assert submitted == []
            assert services.failover.update({"links": [{"device_credential": relay.credential}]})[2]
            accepted = await last_line()
            assert (accepted["type"], accepted["ok"]) == ("report", True)
            assert submitted == [1]
            assert relay.credential not in json.dumps(accepted)
    # The report followed the relay on to the real Postfix, which took the message.
    (relay_step,) = [s for s in accepted["steps"] if s["step"] == "relay"]  # type: ignore[attr-defined]
    assert re.fullmatch(
        r"ops@example\.net: delivered \(2\.0\.0 Ok: queued as [0-9A-F]+\)", relay_step["summary"]
    ), relay_step
