"""POST /api/v1/intake/alertmanager|grafana over a real HTTP server, and the mapping API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from intake_support import queued, stored_counts
from webhook_support import am_alert, am_payload, grafana_payload

from helpers import LiveServer
from tocsin.app import create_app
from tocsin.services.context import Services
from tocsin.services.webhooks import WebhookService

AM = "/api/v1/intake/alertmanager"
GRAFANA = "/api/v1/intake/grafana"
MAPPING = "/api/v1/intake/mapping"


@pytest.fixture
def server(services: Services) -> Iterator[LiveServer]:
    """The real app on a real port, its webhooks on the test clock's intake."""
    services.webhooks = WebhookService(
        services.store,
        events=services.events,
        sites=services.sites,
        mapping=services.webhooks.mapping,
    )
    live = LiveServer(create_app(services))
    yield live
    live.close()


def _events(services: Services) -> list[dict[str, Any]]:
    return [
        {
            "id": r.stored.event.id,
            "group": r.stored.event.group_id,
            "device": r.stored.event.device,
            "sensor": r.stored.event.sensor,
            "category": r.stored.event.category.value,
            "severity": r.stored.event.severity.value,
            "state": r.stored.event.state.value,
            "text": r.stored.event.text,
            "value": r.stored.event.value,
            "clears": r.stored.event.clears,
            "open": r.stored.is_open,
        }
        for r in reversed(services.events.recent(limit=100))
    ]


def _first_issue(answer: httpx.Response) -> dict[str, Any]:
    body = answer.json()
    assert body["message"], body
    issue: dict[str, Any] = body["issues"][0]
    return issue


# ---------------------------------------------------------------------- authentication
@pytest.mark.parametrize("url", [AM, GRAFANA])
@pytest.mark.parametrize("auth", [None, "Bearer tcn_wrong", "Basic YWxlcnQ6bWFuYWdlcg=="])
def test_webhooks_need_a_token(
    server: LiveServer, services: Services, url: str, auth: str | None
) -> None:
    headers = {"Authorization": auth} if auth else {}
    answer = httpx.post(f"{server.url}{url}", json=am_payload(am_alert()), headers=headers)
    assert answer.status_code == 401
    assert "Bearer" in answer.headers["www-authenticate"]
    assert stored_counts(services) == (0, 0, 0)


# ---------------------------------------------------------------------- alertmanager
def test_a_firing_alert_becomes_an_alarm_with_its_emails(
    device: httpx.Client, services: Services
) -> None:
    answer = device.post(AM, json=am_payload(am_alert()))
    assert answer.status_code == 202, answer.text
    (result,) = answer.json()["events"]
    assert result["group"] == "server-room"
    assert result["group_fallback"] is False
    assert result["notified"] == 2  # alice (site) and bob (server room) have "always" on
    (stored,) = _events(services)
    assert stored["device"] == "sensor-7:9100"
    assert stored["sensor"] == "RoomTooHot"
    assert stored["category"] == "always"
    assert stored["severity"] == "alarm"
    assert stored["text"] == ("Server room at 41 °C\nThe temperature is above 35 °C for 2 minutes.")
    subjects = sorted(str(m["Subject"]) for _, m in queued(services))
    assert all("RoomTooHot" in s for s in subjects), subjects


def test_a_repeated_notification_is_stored_once(device: httpx.Client, services: Services) -> None:
    first = device.post(AM, json=am_payload(am_alert())).json()["events"][0]
    counts = stored_counts(services)
    # Alertmanager's repeat: same fingerprint and start, annotations re-templated.
    repeat = am_alert()
    repeat["annotations"]["summary"] = "Server room at 42 °C"
    again = device.post(AM, json=am_payload(repeat))
    assert again.status_code == 202, again.text
    (result,) = again.json()["events"]
    assert result["duplicate"] is True
    assert result["id"] == first["id"]
    assert stored_counts(services) == counts


def test_resolved_clears_the_raise_threaded(device: httpx.Client, services: Services) -> None:
    raised = device.post(AM, json=am_payload(am_alert())).json()["ids"][0]
    resolved = am_alert(status="resolved", ends="2026-05-03T03:00:40Z")
    answer = device.post(AM, json=am_payload(resolved))
    assert answer.status_code == 202, answer.text
    (result,) = answer.json()["events"]
    assert result["clears"] == raised
    assert result["notified"] == 2
    raise_event, clear_event = _events(services)
    assert clear_event["state"] == "cleared"
    assert clear_event["clears"] == raised
    assert raise_event["open"] is False
    by_recipient: dict[str, list[Any]] = {}
    for recipient, message in queued(services):
        by_recipient.setdefault(recipient, []).append(message)
    for recipient in ("alice@example.com", "bob@example.net"):
        raise_mail, clear_mail = by_recipient[recipient]
        assert clear_mail["In-Reply-To"] == raise_mail["Message-ID"]
        assert clear_mail["References"] == raise_mail["Message-ID"]
    assert str(by_recipient["bob@example.net"][1]["Subject"]).startswith("[CLEARED]")
    # The resolved notification repeated: nothing new.
    counts = stored_counts(services)
    again = device.post(AM, json=am_payload(resolved)).json()["events"][0]
    assert again["duplicate"] is True
    assert stored_counts(services) == counts


def test_a_new_firing_after_resolved_is_a_new_event(
    device: httpx.Client, services: Services
) -> None:
    device.post(AM, json=am_payload(am_alert()))
    device.post(AM, json=am_payload(am_alert(status="resolved", ends="2026-05-03T03:00:00Z")))
    again = device.post(AM, json=am_payload(am_alert(starts="2026-05-03T03:00:30Z")))
    assert again.json()["events"][0]["duplicate"] is False
    assert [e["state"] for e in _events(services)] == ["raised", "cleared", "raised"]


def test_a_batch_is_one_event_per_alert(device: httpx.Client, services: Services) -> None:
    alerts = [
        am_alert(fingerprint="aaaa0001", severity="warning", instance="sensor-1"),
        am_alert(fingerprint="aaaa0002", group="office", category="fire"),
        am_alert(fingerprint="aaaa0003", group="", instance="sensor-3"),
    ]
    answer = device.post(AM, json=am_payload(*alerts))
    assert answer.status_code == 202, answer.text
    results = answer.json()["events"]
    assert [r["group"] for r in results] == ["server-room", "office", "site"]
    assert [r["group_fallback"] for r in results] == [False, False, False]
    stored = _events(services)
    assert [e["severity"] for e in stored] == ["warning", "alarm", "alarm"]
    assert [e["category"] for e in stored] == ["always", "fire", "always"]


def test_an_unknown_group_label_falls_back_to_the_only_top_level_group(
    device: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="tocsin.intake"):
        answer = device.post(AM, json=am_payload(am_alert(group="no-such-room")))
    assert answer.status_code == 202, answer.text
    (result,) = answer.json()["events"]
    assert (result["group"], result["group_fallback"]) == ("site", True)
    assert "names no alarm group; sent to 'site'" in caplog.text


def test_no_default_group_refuses_with_a_field_named_error(
    device: httpx.Client, services: Services
) -> None:
    services.sites.add_group({"id": "second-site", "name": "Second site"})  # two roots now
    answer = device.post(AM, json=am_payload(am_alert(group="no-such-room")))
    assert answer.status_code == 422
    issue = _first_issue(answer)
    assert issue["field"] == "alerts[0].labels.group"
    assert issue["code"] == "intake_no_group"
    assert stored_counts(services) == (0, 0, 0)


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"alerts": "none"}, "alerts", "field_type"),
        ({"alerts": []}, "alerts", "batch_size"),
        ({"version": "3"}, "version", "field_choice"),
        ({"alerts": [{**am_alert(), "status": "burning"}]}, "alerts[0].status", "field_choice"),
        ({"alerts": [{**am_alert(), "startsAt": "yesterday"}]}, "alerts[0].startsAt", "field_time"),
        ({"alerts": [{**am_alert(), "labels": {"a": 1}}]}, "alerts[0].labels.a", "field_type"),
        ({"alerts": [{**am_alert(), "labels": ["x"]}]}, "alerts[0].labels", "field_type"),
        ({"alerts": [am_alert(), 7]}, "alerts[1]", "field_type"),
    ],
)
def test_bad_payloads_are_refused_naming_the_field(
    device: httpx.Client, services: Services, change: dict[str, Any], field: str, code: str
) -> None:
    payload = {**am_payload(am_alert()), **change}
    answer = device.post(AM, json=payload)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_alerts"
    issue = _first_issue(answer)
    assert (issue["field"], issue["code"]) == (field, code)
    assert issue["message"].endswith(".")
    assert stored_counts(services) == (0, 0, 0)


def test_malformed_json_and_a_missing_start_are_refused(device: httpx.Client) -> None:
    answer = device.post(AM, content=b"{not json", headers={"content-type": "application/json"})
    assert answer.status_code == 400
    alert = am_alert()
    del alert["startsAt"]
    answer = device.post(AM, json=am_payload(alert))
    assert answer.status_code == 422
    assert _first_issue(answer)["field"] == "alerts[0].startsAt"


def test_line_breaks_in_labels_never_reach_a_header(
    device: httpx.Client, services: Services
) -> None:
    alert = am_alert(instance="evil\r\nBcc: victim@example.com", alertname="=?utf-8?q?x?=")
    answer = device.post(AM, json=am_payload(alert))
    assert answer.status_code == 202, answer.text
    (stored,) = _events(services)
    assert stored["device"] == "evil Bcc: victim@example.com"
    assert "=?" not in stored["sensor"]
    for _, message in queued(services):
        assert "Bcc" not in message


# ---------------------------------------------------------------------- grafana
def test_grafana_alert_with_its_reading(device: httpx.Client, services: Services) -> None:
    answer = device.post(GRAFANA, json=grafana_payload(am_alert(severity="warning")))
    assert answer.status_code == 202, answer.text
    (stored,) = _events(services)
    assert stored["severity"] == "warning"
    assert stored["value"] == 41.25
    assert stored["text"].endswith("[ var='A' labels={} value=41.25 ]")
    raised = stored["id"]
    resolved = grafana_payload(am_alert(status="resolved", ends="2026-05-03T03:00:20Z"))
    result = device.post(GRAFANA, json=resolved).json()["events"][0]
    assert result["clears"] == raised


def test_grafana_and_alertmanager_ids_do_not_collide(
    device: httpx.Client, services: Services
) -> None:
    device.post(AM, json=am_payload(am_alert()))
    second = device.post(GRAFANA, json=grafana_payload(am_alert())).json()["events"][0]
    assert second["duplicate"] is False
    assert len(_events(services)) == 2


# ---------------------------------------------------------------------- the mapping
def test_the_mapping_can_be_read_and_changed(
    admin: httpx.Client, device: httpx.Client, services: Services
) -> None:
    mapping = admin.get(MAPPING).json()["mapping"]
    assert mapping["severity"] == ["severity"]
    assert "critical" in mapping["alarm_values"]
    assert device.get(MAPPING).status_code == 403
    changed = admin.patch(
        MAPPING,
        json={"group": ["room"], "device": ["host"], "default_category": "system"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["mapping"]["group"] == ["room"]
    assert changed.json()["mapping"]["sensor"] == ["sensor", "alertname"]  # kept
    alert = am_alert(room="office", host="ups-1", group="")
    result = device.post(AM, json=am_payload(alert)).json()["events"][0]
    assert result["group"] == "office"
    (stored,) = _events(services)
    assert (stored["device"], stored["category"]) == ("ups-1", "system")
    # PUT replaces the whole mapping: {} is the defaults again.
    assert admin.put(MAPPING, json={}).json()["mapping"]["group"] == ["group"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"group": ["bad label"]}, "group[0]", "mapping_name"),
        ({"group": []}, "group", "field_empty"),
        ({"default_severity": "loud"}, "default_severity", "field_choice"),
        ({"warning_values": ["critical"]}, "warning_values", "mapping_both"),
        ({"colour": ["x"]}, "colour", "field_unknown"),
    ],
)
def test_a_bad_mapping_is_refused_and_nothing_changes(
    admin: httpx.Client, body: dict[str, Any], field: str, code: str
) -> None:
    before = admin.get(MAPPING).json()
    answer = admin.patch(MAPPING, json=body)
    assert answer.status_code == 422, answer.text
    issue = _first_issue(answer)
    assert (issue["field"], issue["code"]) == (field, code)
    assert admin.get(MAPPING).json() == before


def test_the_mapping_travels_in_the_site_file(admin: httpx.Client, services: Services) -> None:
    admin.patch(MAPPING, json={"device": ["host"]})
    site = services.sites.export_site()
    assert site["webhook_mapping"]["device"] == ["host"]
    site["webhook_mapping"]["default_group"] = "office"
    services.sites.import_site(site)
    assert services.webhooks.mapping.load().default_group == "office"
    assert services.webhooks.mapping.load().device == ("host",)


def test_a_whole_big_alert_group_is_taken_beyond_the_rest_batch(
    device: httpx.Client, services: Services
) -> None:
    # Alertmanager sends a group at once and never retries a refusal: a power cut's
    # 1,200 lost links must all go in (the REST intake's batch ends at 1,000).
    alerts = [
        am_alert(fingerprint=f"link{i:05d}", instance=f"hub-{i}", group="office", severity="x")
        for i in range(1200)
    ]
    answer = device.post(AM, json=am_payload(*alerts), timeout=120)
    assert answer.status_code == 202, answer.text[:500]
    assert len(set(answer.json()["ids"])) == 1200
    too_many = device.post(AM, json={"alerts": [{}] * 10_001})
    assert too_many.status_code == 422
    assert _first_issue(too_many)["code"] == "batch_size"
