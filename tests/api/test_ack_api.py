"""``POST /api/v1/events/<id>/ack`` and the ack fields of event answers (issue 13)."""

from __future__ import annotations

import httpx
import pytest

from tocsin.services.context import Services

SITE = {
    "groups": [{"id": "room", "name": "Server room"}],
    "users": [
        {"id": "anna", "name": "Anna", "email": "anna@example.com", "groups": ["room"],
         "categories": ["fire", "always"]},
        {"id": "ben", "name": "Ben", "email": "ben@example.com", "groups": ["room"],
         "categories": ["fire", "always"], "language": "de"},
    ],
}  # fmt: skip


@pytest.fixture
def site(services: Services) -> Services:
    _, report, saved = services.settings.update({"sender_address": "alarm@example.com"})
    assert saved, report
    assert services.sites.import_site(SITE).applied
    return services


def _raise(api: httpx.Client, **extra: object) -> str:
    body = {"group": "room", "device": "Detector", "sensor": "smoke", "category": "fire",
            "severity": "alarm"} | extra  # fmt: skip
    answer = api.post("/api/v1/events", json=body)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["ids"][0])


def test_an_alarm_is_acknowledged_once_and_the_answers_say_who_and_when(
    site: Services, api: httpx.Client
) -> None:
    event_id = _raise(api)
    assert api.get(f"/api/v1/events/{event_id}").json()["ack"] is None
    queued = site.outbox.counts()

    first = api.post(f"/api/v1/events/{event_id}/ack", json={"by": "Anna Admin"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["new"] is True
    assert body["by"] == "Anna Admin"
    assert body["via"] == "api"
    assert body["notices"] == 2  # nobody acknowledged from an email: everyone told hears
    assert body["at"].endswith("Z")

    again = api.post(f"/api/v1/events/{event_id}/ack")
    assert again.status_code == 200
    assert again.json()["new"] is False
    assert again.json()["by"] == "Anna Admin"
    assert again.json()["notices"] == 0

    shown = api.get(f"/api/v1/events/{event_id}").json()["ack"]
    assert shown == {"by": "Anna Admin", "at": body["at"], "via": "api", "user": None}
    listed = api.get("/api/v1/events").json()
    rows = listed["events"] if isinstance(listed, dict) else listed
    assert next(e for e in rows if e["id"] == event_id)["ack"]["by"] == "Anna Admin"
    total = sum(site.outbox.counts().values()) - sum(queued.values())
    assert total == 2  # the two notes, not four


def test_without_a_name_the_token_names_the_acknowledgement(
    site: Services, api: httpx.Client
) -> None:
    event_id = _raise(api)
    answer = api.post(f"/api/v1/events/{event_id}/ack")
    assert answer.json()["by"] == "API: tests"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b'{"by": ""}', 422, "invalid_input"),
        (b'{"by": 5}', 422, "invalid_input"),
        (b'{"who": "x"}', 422, "invalid_input"),
        (b"{not json", 400, "malformed_json"),
    ],
)
def test_a_bad_body_is_refused_and_nothing_is_acknowledged(
    site: Services, api: httpx.Client, body: bytes, status: int, error: str
) -> None:
    event_id = _raise(api)
    answer = api.post(
        f"/api/v1/events/{event_id}/ack", content=body,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error
    assert site.acks.acks_of([event_id]) == {}


def test_warnings_cleared_alarms_and_unknown_events_are_refused(
    site: Services, api: httpx.Client
) -> None:
    warning = _raise(api, severity="warning", device="Thermo")
    answer = api.post(f"/api/v1/events/{warning}/ack")
    assert (answer.status_code, answer.json()["error"]) == (409, "not_alarm")
    raised = _raise(api, device="Other")
    _raise(api, device="Other", state="cleared")
    answer = api.post(f"/api/v1/events/{raised}/ack")
    assert (answer.status_code, answer.json()["error"]) == (409, "cleared")
    answer = api.post("/api/v1/events/01J0000000000000000000000X/ack")
    assert (answer.status_code, answer.json()["error"]) == (404, "not_found")


def test_an_events_token_may_acknowledge_and_no_token_may_not(
    site: Services, api: httpx.Client
) -> None:
    event_id = _raise(api)
    for headers in ({}, {"Authorization": "Bearer tok_not-a-real-token"}):
        answer = httpx.post(
            f"{api.base_url}/api/v1/events/{event_id}/ack", headers=headers, timeout=10
        )
        assert answer.status_code == 401
    assert site.acks.acks_of([event_id]) == {}
    token, _ = site.accounts.create_token("sensor hub", ("events",))
    answer = httpx.post(
        f"{api.base_url}/api/v1/events/{event_id}/ack",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.json()["by"] == "API: sensor hub"


def test_the_public_address_over_the_api(site: Services, api: httpx.Client) -> None:
    """``/api/v1/settings/public-url`` (issue 13): read, checked, saved, warned, removed."""
    assert api.get("/api/v1/settings/public-url").json() == {
        "public_url": None, "source": "none", "warning": None,
    }  # fmt: skip
    refused = api.put("/api/v1/settings/public-url", json={"public_url": "https://a:b@x.org"})
    assert refused.status_code == 422
    assert refused.json()["code"] == "public_url_credentials"
    assert "a:b" not in refused.text
    for body in ({"url": "https://x.org"}, {"public_url": 5}, ["https://x.org"]):
        assert api.put("/api/v1/settings/public-url", json=body).status_code == 422
    saved = api.put("/api/v1/settings/public-url", json={"public_url": "http://tocsin.lan/"})
    assert saved.json() == {
        "public_url": "http://tocsin.lan", "source": "saved", "warning": "public_url_plain_http",
    }  # fmt: skip
    assert site.public_url.get() == "http://tocsin.lan"
    removed = api.put("/api/v1/settings/public-url", json={"public_url": None})
    assert removed.json()["public_url"] is None
    unauthenticated = httpx.get(f"{api.base_url}/api/v1/settings/public-url", timeout=10)
    assert unauthenticated.status_code == 401
    token, _ = site.accounts.create_token("device", ("events",))
    device = httpx.put(
        f"{api.base_url}/api/v1/settings/public-url",
        json={"public_url": "https://evil.example"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert device.status_code == 403
    assert site.public_url.get() is None
