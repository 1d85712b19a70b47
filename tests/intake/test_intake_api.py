"""POST /api/v1/events over a real HTTP server: auth, bad input, idempotency, atomicity."""

from __future__ import annotations

import json
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

import httpx
import pytest
from intake_support import event, queued, stored_counts

from helpers import LiveServer
from tocsin.outbox import ListFilter, Priority, Status
from tocsin.services.context import Services

URL = "/api/v1/events"
# The headers compose() sets on an alarm email; a clear adds the two threading ones.
EXPECTED_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "auto-submitted",
    "mime-version",
    "content-type",
}


def _issue(answer: httpx.Response) -> dict[str, Any]:
    body = answer.json()
    assert body["issues"], body
    assert body["message"]
    first: dict[str, Any] = body["issues"][0]
    return first


# ---------------------------------------------------------------------- authentication
@pytest.mark.parametrize("auth", [None, "Bearer tcn_not-a-real-token", "Basic YWRtaW46YWRtaW4="])
def test_events_need_a_token(server: LiveServer, services: Services, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    answer = httpx.post(f"{server.url}{URL}", json=event(), headers=headers, timeout=10)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["detail"]
    assert stored_counts(services) == (0, 0, 0)


@pytest.mark.parametrize(
    "body",
    [b"{not json", json.dumps(event(text="x" * 1_000_000)).encode(), b'{"group": "nope"}'],
    ids=["malformed", "over-a-megabyte", "unknown-group"],
)
def test_the_token_is_checked_before_the_body(
    server: LiveServer, services: Services, body: bytes
) -> None:
    """The body is read before the token is checked (one worker-thread trip for both),
    yet the answer is the one of checking the token first: 401, whatever the body."""
    headers = {"Content-Type": "application/json", "Authorization": "Bearer tcn_wrong"}
    answer = httpx.post(f"{server.url}{URL}", content=body, headers=headers, timeout=10)
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == 'Bearer realm="tocsin"'
    assert answer.json()["detail"] == "the API token is unknown or revoked"
    assert stored_counts(services) == (0, 0, 0)


def test_a_revoked_token_is_refused_at_once(device: httpx.Client, services: Services) -> None:
    assert device.post(URL, json=event()).status_code == 202
    (record,) = [t for t in services.accounts.list_tokens() if t.name == "gateway"]
    services.accounts.revoke_token(record.id)
    assert device.post(URL, json=event()).status_code == 401


def test_an_events_token_may_post_but_not_read_the_log(device: httpx.Client) -> None:
    assert device.post(URL, json=event()).status_code == 202
    assert device.get(URL).status_code == 403
    assert device.get("/api/v1/groups").status_code == 403


def test_an_admin_token_may_post_and_read(admin: httpx.Client) -> None:
    posted = admin.post(URL, json=event())
    assert posted.status_code == 202
    (event_id,) = posted.json()["ids"]
    log = admin.get(URL).json()
    assert [e["id"] for e in log["events"]] == [event_id]
    notified = {n["user"]: n["status"] for n in log["events"][0]["notifications"]}
    assert notified == {"alice": "sent", "bob": "sent"}
    assert admin.get(f"{URL}/{event_id}").json()["device"] == "Smoke detector 2"
    assert admin.get(f"{URL}/nope").status_code == 404


# ---------------------------------------------------------------------- the happy path
def test_an_alarm_is_stored_with_its_emails_before_the_answer(
    device: httpx.Client, services: Services
) -> None:
    answer = device.post(URL, json=event(value=41.5, unit="°C", threshold=35, text="Rauch!"))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    (event_id,) = body["ids"]
    assert body["events"][0] == {
        "id": event_id,
        "client_event_id": None,
        "duplicate": False,
        "notified": 2,
        "held": 0,
        "failed": 0,
        "clears": None,
    }
    # Committed before the answer: the store has the event and both emails, queued
    # although email is disabled (the outbox waits until it is enabled).
    record = services.events.get(event_id)
    assert record is not None
    deliveries = services.store.list_deliveries(ListFilter())
    assert sorted(d.recipient for d in deliveries) == ["alice@example.com", "bob@example.net"]
    assert {d.status for d in deliveries} == {Status.QUEUED}
    assert {d.priority for d in deliveries} == {Priority.FIRE}
    subjects = {to: str(msg["Subject"]) for to, msg in queued(services)}
    assert subjects["bob@example.net"] == (
        "[ALARM] Fire – Site / Building A / Server room – Smoke detector 2: smoke"
    )
    assert subjects["alice@example.com"].startswith("[ALARM] Brand – ")  # Alice reads German


def test_a_batch_answers_ids_in_order(device: httpx.Client, services: Services) -> None:
    batch = {
        "events": [
            event(device="D1"),
            event(device="D2", category="always", severity="warning", group="office"),
            event(device="D3", group="office"),
        ]
    }
    answer = device.post(URL, json=batch)
    assert answer.status_code == 202, answer.text
    ids = answer.json()["ids"]
    assert len(ids) == len(set(ids)) == 3
    devices = [services.events.get(i).stored.event.device for i in ids]  # type: ignore[union-attr]
    assert devices == ["D1", "D2", "D3"]
    # The warning in the office went to Alice only (Carol has fire only).
    assert [e["notified"] for e in answer.json()["events"]] == [2, 1, 2]


# ---------------------------------------------------------------------- bad input
BAD_EVENTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown group", event(group="nowhere"), "group", "unknown_group"),
    ("unknown category", event(category="smoke"), "category", "field_choice"),
    ("unknown severity", event(severity="critical"), "severity", "field_choice"),
    ("unknown state", event(state="open"), "state", "field_choice"),
    ("missing group", event(group=None), "group", "field_missing"),
    ("missing device", event(device=None), "device", "field_missing"),
    ("missing category", event(category=None), "category", "field_missing"),
    ("missing severity", event(severity=None), "severity", "field_missing"),
    ("blank sensor", event(sensor="   "), "sensor", "field_empty"),
    ("text too long", event(text="x" * 2001), "text", "field_too_long"),
    ("device too long", event(device="d" * 201), "device", "field_too_long"),
    ("sensor too long", event(sensor="s" * 201), "sensor", "field_too_long"),
    ("value as text", event(value="41.5"), "value", "field_type"),
    ("value as boolean", event(value=True), "value", "field_type"),
    ("device as number", event(device=7), "device", "field_type"),
    ("typo in a field", {**event(), "severty": "alarm"}, "severty", "field_unknown"),
    ("time without zone", event(occurred_at="2026-05-01T12:00:00"), "occurred_at", "field_time"),
    ("time as words", event(occurred_at="yesterday"), "occurred_at", "field_time"),
    ("clears on a raise", event(clears="01ABC"), "clears", "invalid_value"),
    ("client id with spaces", event(client_event_id="a b"), "client_event_id", "field_id"),
    ("device with CR LF", event(device="Smoke\r\nBcc: evil@example.net"), "device", "field_unsafe"),
    ("device with LF", event(device="Smoke\nBcc: evil@example.net"), "device", "field_unsafe"),
    (
        "device with U+2028",
        event(device="Smoke\u2028Bcc: evil@example.net"),
        "device",
        "field_unsafe",
    ),
    ("sensor with NEL", event(sensor="smoke\u0085Bcc: evil@example.net"), "sensor", "field_unsafe"),
    (
        "device with an encoded word",
        event(device="=?utf-8?q?Smoke=0D=0ABcc=3A_evil=40example=2Enet?="),
        "device",
        "field_unsafe",
    ),
    ("unit with a tab", event(unit="°C\tX"), "unit", "field_unsafe"),
    ("text with NUL", event(text="a\x00b"), "text", "field_unsafe"),
    ("not an object", [event()], "body", "field_type"),  # type: ignore[list-item]
    ("empty batch", {"events": []}, "events", "batch_size"),
    ("batch not a list", {"events": event()}, "events", "field_type"),
    ("too big a batch", {"events": [event()] * 1001}, "events", "batch_size"),
    ("extra key next to events", {"events": [event()], "token": "x"}, "token", "field_unknown"),
]


@pytest.mark.parametrize(
    ("body", "field", "code"), [b[1:] for b in BAD_EVENTS], ids=[b[0] for b in BAD_EVENTS]
)
def test_bad_events_are_refused_naming_the_field(
    device: httpx.Client, services: Services, body: Any, field: str, code: str
) -> None:
    answer = device.post(URL, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_events"
    issue = _issue(answer)
    assert (issue["field"], issue["code"]) == (field, code)
    assert issue["level"] == "error"
    assert stored_counts(services) == (0, 0, 0)


def test_every_bad_field_is_named_at_once(device: httpx.Client) -> None:
    answer = device.post(URL, json=event(group="nowhere", severity="bad", device="x\ny"))
    fields = {i["field"] for i in answer.json()["issues"]}
    assert {"severity", "device"} <= fields


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b'{"group": "site", ', "line 1"),
        (b"", "empty"),
        (b'{"group": "site", "value": NaN}', "NaN"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 100_000, "nested"),
    ],
    ids=["truncated", "empty", "NaN", "not UTF-8", "deep"],
)
def test_malformed_json_is_a_400_with_json(
    device: httpx.Client, services: Services, raw: bytes, detail: str
) -> None:
    answer = device.post(URL, content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == "malformed_json"
    assert body["issues"][0]["field"] == "body"
    assert detail in body["message"]
    assert stored_counts(services) == (0, 0, 0)


def test_a_one_megabyte_text_is_a_413(device: httpx.Client, services: Services) -> None:
    answer = device.post(URL, json=event(text="x" * 1_000_000))
    assert answer.status_code == 413
    assert answer.json()["error"] == "body_too_large"
    assert answer.json()["issues"][0]["field"] == "body"
    assert stored_counts(services) == (0, 0, 0)


def test_a_chunked_body_over_the_limit_is_a_413(device: httpx.Client, services: Services) -> None:
    def chunks() -> Any:
        yield b'{"group": "site", "text": "'
        for _ in range(20):
            yield b"x" * 60_000
        yield b'"}'

    answer = device.post(URL, content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert stored_counts(services) == (0, 0, 0)


# ---------------------------------------------------------------------- header injection
def _header_names(raw: bytes) -> set[str]:
    return {name.lower() for name in BytesHeaderParser(policy=compat32).parsebytes(raw)}


def test_injection_attempts_in_free_text_never_become_headers(
    device: httpx.Client, services: Services
) -> None:
    hostile = "Smoke!\r\nBcc: evil@example.net\r\n\r\n=?utf-8?q?X-Evil=3A_1?=\u2028X-Other: 2"
    answer = device.post(URL, json=event(device="Rauchmelder Süd 🔥", text=hostile, unit="°C"))
    assert answer.status_code == 202, answer.text
    mails = queued(services)
    assert len(mails) == 2
    for recipient, message in mails:
        view = services.store.list_deliveries(ListFilter(recipient=recipient))[0]
        raw = services.store.get_email(view.email_id, content=True).content  # type: ignore[union-attr]
        assert _header_names(raw) == EXPECTED_HEADERS
        assert message["Bcc"] is None
        assert message["X-Evil"] is None
        assert "Rauchmelder Süd 🔥" in str(message["Subject"])
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Bcc: evil@example.net" in text  # shown as text, where it belongs


# ---------------------------------------------------------------------- idempotency
def test_a_retried_event_creates_nothing_new(device: httpx.Client, services: Services) -> None:
    body = event(client_event_id="gw-7:1234")
    first = device.post(URL, json=body)
    counts = stored_counts(services)
    second = device.post(URL, json=body)
    assert first.status_code == second.status_code == 202
    assert first.json()["ids"] == second.json()["ids"]
    assert second.json()["events"][0]["duplicate"] is True
    assert stored_counts(services) == counts


def test_a_retried_batch_answers_the_same_ids(device: httpx.Client, services: Services) -> None:
    batch = {"events": [event(client_event_id=f"b-{i}", device=f"D{i}") for i in range(5)]}
    first = device.post(URL, json=batch).json()["ids"]
    counts = stored_counts(services)
    again = device.post(URL, json=batch).json()
    assert again["ids"] == first
    assert all(e["duplicate"] for e in again["events"])
    assert stored_counts(services) == counts


def test_a_client_id_reused_for_another_event_is_a_conflict(
    device: httpx.Client, services: Services
) -> None:
    device.post(URL, json=event(client_event_id="same"))
    counts = stored_counts(services)
    answer = device.post(URL, json=event(client_event_id="same", device="Another detector"))
    assert answer.status_code == 409
    assert answer.json()["error"] == "conflict"
    assert _issue(answer)["field"] == "client_event_id"
    assert stored_counts(services) == counts


def test_a_client_id_twice_in_one_batch_is_refused(
    device: httpx.Client, services: Services
) -> None:
    batch = {"events": [event(client_event_id="x"), event(client_event_id="x", device="B")]}
    answer = device.post(URL, json=batch)
    assert answer.status_code == 422
    assert _issue(answer)["field"] == "events[1].client_event_id"
    assert stored_counts(services) == (0, 0, 0)


# ---------------------------------------------------------------------- all or nothing
@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (event(group="nowhere"), "events[2].group"),
        (event(state="cleared", clears="01NOSUCHEVENT"), "events[2].clears"),
        (event(device="a\r\nb"), "events[2].device"),
    ],
    ids=["unknown group", "unknown raise", "unsafe device"],
)
def test_a_batch_with_one_bad_event_stores_nothing(
    device: httpx.Client, services: Services, bad: dict[str, Any], field: str
) -> None:
    answer = device.post(URL, json={"events": [event(), event(group="office"), bad]})
    assert answer.status_code == 422, answer.text
    assert _issue(answer)["field"] == field
    assert stored_counts(services) == (0, 0, 0)


# ---------------------------------------------------------------------- raise and clear
def test_a_clear_goes_to_those_told_of_the_raise_threaded(
    device: httpx.Client, services: Services
) -> None:
    (raised,) = device.post(URL, json=event()).json()["ids"]
    services.sites.update_user("carol", {"groups": ["site"]})  # assigned after the raise
    answer = device.post(URL, json=event(state="cleared", severity=None))
    assert answer.status_code == 202, answer.text
    accepted = answer.json()["events"][0]
    assert accepted["clears"] == raised
    assert accepted["notified"] == 2  # alice and bob; not carol, who never heard of it
    by_recipient: dict[str, list[Any]] = {}
    for recipient, message in queued(services):
        by_recipient.setdefault(recipient, []).append(message)
    assert "carol@example.org" not in by_recipient
    for recipient in ("alice@example.com", "bob@example.net"):
        raise_mail, clear_mail = by_recipient[recipient]
        assert clear_mail["In-Reply-To"] == raise_mail["Message-ID"]
        assert clear_mail["References"] == raise_mail["Message-ID"]
    assert str(by_recipient["bob@example.net"][1]["Subject"]).startswith("[CLEARED] Fire")
    # The raise is closed: a second clear finds nothing open and tells nobody.
    again = device.post(URL, json=event(state="cleared", severity=None)).json()["events"][0]
    assert (again["clears"], again["notified"]) == (None, 0)


def test_a_clear_may_name_its_raise(device: httpx.Client, services: Services) -> None:
    (first,) = device.post(URL, json=event(device="A")).json()["ids"]
    device.post(URL, json=event(device="B"))
    answer = device.post(URL, json=event(device="A", state="cleared", clears=first))
    assert answer.json()["events"][0]["clears"] == first
    (cleared,) = answer.json()["ids"]
    refused = device.post(URL, json=event(state="cleared", clears=cleared))
    assert refused.status_code == 422
    assert _issue(refused)["code"] == "not_a_raise"


def test_the_hourly_cap_holds_back_and_counts(device: httpx.Client, services: Services) -> None:
    warm = event(category="always", group="server-room", device="Rack 4", sensor="temperature")
    results = [device.post(URL, json=warm).json()["events"][0] for _ in range(5)]
    # Building A: always-alarms only, at most 3 per hour; alice and bob want them.
    assert [(r["notified"], r["held"]) for r in results] == [(2, 0)] * 3 + [(0, 2)] * 2
    warning = device.post(URL, json={**warm, "severity": "warning"}).json()["events"][0]
    assert (warning["notified"], warning["held"]) == (0, 0)  # warnings are off there


def test_fire_goes_before_warnings_in_the_outbox(device: httpx.Client, services: Services) -> None:
    device.post(URL, json=event(category="always", severity="warning", group="office"))
    device.post(URL, json=event(category="sabotage", group="office", sensor="tamper"))
    device.post(URL, json=event(group="office"))
    claimed = services.store.claim(owner="t", now=10**10, limit=100, lease=60)
    priorities = [c.priority for c in claimed]
    assert priorities == sorted(priorities)
    assert priorities[0] == Priority.FIRE
    assert priorities[-1] == Priority.WARNING


def test_json_errors_for_unknown_routes_stay_json(device: httpx.Client) -> None:
    answer = device.post(
        URL, content=json.dumps(event()).encode(), headers={"Content-Type": "text/plain"}
    )
    assert answer.status_code == 202  # the content type is not checked: the body is
