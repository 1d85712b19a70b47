"""REST: the presets and "find settings" over a live API, against local DNS and HTTPS."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from discovery_servers import discovery_ca, discovery_options, dns_server, https_server
from helpers import LiveServer
from tocsin.app import create_app
from tocsin.providers.discovery import Discovery, DiscoveryOptions
from tocsin.services.context import Services

__all__ = ["discovery_ca", "discovery_options", "dns_server", "https_server"]


@pytest.fixture
def server(services: Services, discovery_options: DiscoveryOptions) -> Iterator[LiveServer]:
    app = create_app(services)
    app.state.discovery = Discovery(discovery_options)
    live = LiveServer(app)
    yield live
    live.close()


def test_settings_are_found_and_nothing_is_saved(api: httpx.Client, services: Services) -> None:
    before = services.store.get_value("email_settings")
    answer = api.post("/api/v1/settings/discover", json={"address": "alarms@m365.example.test"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["found"] is True
    assert body["saved"] is False
    assert body["domain"] == "m365.example.test"
    first = body["proposals"][0]
    assert {k: first[k] for k in ("source", "host", "port", "encryption", "auth")} == {
        "source": "mx",
        "host": "smtp.office365.com",
        "port": 587,
        "encryption": "starttls",
        "auth": "oauth2",
    }
    assert first["oauth_provider"] == "microsoft"
    assert first["origin"].startswith("m365.example.test MX 0 ")
    assert {s["source"]: s["status"] for s in body["sources"]} == {
        "autoconfig": "nothing",  # autoconfig.m365… exists, but has no document (404)
        "srv": "nothing",
        "mx": "found",
        "domain": "nothing",
    }
    assert services.store.get_value("email_settings") == before  # nothing saved unasked
    assert api.get("/api/v1/settings").json()["settings"]["host"] == ""


def test_nothing_found_is_a_clear_answer_in_the_admins_language(api: httpx.Client) -> None:
    answer = api.post(
        "/api/v1/settings/discover?lang=de", json={"address": "alarms@plain.example.test"}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["found"] is False
    assert body["proposals"] == []
    assert body["message"].startswith("Keine Einstellungen für plain.example.test gefunden.")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"address": "no at sign"}, "address"),
        ({"address": "a@b.example", "extra": 1}, "extra"),
        ({"address": "x" * 300 + "@example.org"}, "address"),
        ({}, "address"),
    ],
)
def test_bad_input_is_refused_with_the_field(
    api: httpx.Client, payload: dict[str, object], field: str
) -> None:
    answer = api.post("/api/v1/settings/discover?lang=de", json=payload)
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert any(field in (d.get("field"), *map(str, d.get("loc", []))) for d in detail)


def test_bad_address_message_is_one_sentence_in_german(api: httpx.Client) -> None:
    answer = api.post("/api/v1/settings/discover?lang=de", json={"address": "no at sign"})
    (detail,) = answer.json()["detail"]
    assert detail["field"] == "address"
    assert detail["message"].endswith(".")
    assert detail["message"] == "Keine gültige E-Mail-Adresse: Sie enthält ein Leerzeichen."


def test_duplicate_keys_are_refused_like_everywhere(api: httpx.Client) -> None:
    answer = api.post(
        "/api/v1/settings/discover",
        content=b'{"address": "a@gmail.com", "address": "b@m365.example.test"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400


def test_presets_are_listed_with_their_needs(api: httpx.Client) -> None:
    body = api.get("/api/v1/settings/presets?lang=de").json()
    ids = [p["id"] for p in body["presets"]]
    assert ids[0] == "microsoft365"
    assert ids[-1] == "other"
    assert len(ids) == 12
    other = body["presets"][-1]
    assert other["label"] == "Anderer Anbieter"
    assert other["needs"] == ["Server, Port und Verschlüsselung von Ihrer Mail-Administration."]


def test_only_admins_may_look(server: LiveServer, services: Services) -> None:
    token, _ = services.accounts.create_token("gateway", ("events",))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        anonymous = client.post("/api/v1/settings/discover", json={"address": "a@gmail.com"})
        assert anonymous.status_code == 401
        assert client.get("/api/v1/settings/presets").status_code == 401
        events_only = client.post(
            "/api/v1/settings/discover",
            json={"address": "a@gmail.com"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert events_only.status_code == 403


def test_lookups_are_limited_to_20_a_minute(api: httpx.Client) -> None:
    for _ in range(20):
        answer = api.post("/api/v1/settings/discover", json={"address": "a@gmail.com"})
        assert answer.status_code == 200
    refused = api.post("/api/v1/settings/discover", json={"address": "a@gmail.com"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert refused.json()["detail"].startswith("too many lookups; try again in ")
