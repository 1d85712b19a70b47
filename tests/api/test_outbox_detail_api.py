"""GET /api/v1/outbox/<id>: one email in full, as the delivery log's detail view shows it;
and a user added without a zone starts in the site's (the server's local zone)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from delivery_story import (
    BUSY_REPLY,
    LATER_REPLY,
    SENT_REPLY,
    alarm_emails,
    ops_tries_again,
    story_site,
)
from helpers import LiveServer
from tocsin.message import compose
from tocsin.services.context import Services
from tocsin.services.email_detail import HIDDEN, headers_of

PASSWORD = "s3cret-Passw0rd-never-shown"


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """A data directory opened on a server whose local zone ($TZ) is Vienna."""
    monkeypatch.setenv("TZ", "Europe/Vienna")
    opened = Services.open(tmp_path / "data")
    monkeypatch.delenv("TZ")
    yield opened
    opened.close()


def test_one_email_with_attempts_answers_headers_and_its_event(
    api: httpx.Client, services: Services
) -> None:
    story_site(services)
    event_id, ids = alarm_emails(services)
    services.settings.update({"username": "alarm@example.com", "password": PASSWORD})

    sent = api.get(f"/api/v1/outbox/{ids['anna']}")
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["event_id"] == event_id
    assert body["message_id"].startswith(f"<{event_id}.")
    (delivery,) = body["deliveries"]
    assert (delivery["recipient"], delivery["status"], delivery["attempts"]) == (
        "anna@example.com", "sent", 1,
    )  # fmt: skip
    assert delivery["server_reply"] == SENT_REPLY
    assert delivery["sent_at"] == delivery["updated_at"] >= body["created_at"]
    headers = {h["name"]: h["value"] for h in body["headers"]}
    assert headers["Message-ID"] == body["message_id"]
    assert headers["To"] == "anna@example.com"
    assert headers["Subject"].startswith("[ALARM] Brand")  # Anna reads German
    assert "content" not in body
    assert PASSWORD not in sent.text

    later = api.get(f"/api/v1/outbox/{ids['ops']}").json()
    (delivery,) = later["deliveries"]
    assert (delivery["status"], delivery["attempts"], delivery["sent_at"]) == ("queued", 1, None)
    assert (delivery["last_step"], delivery["last_code"]) == ("rcpt_to", 451)
    assert delivery["last_error"] == LATER_REPLY
    assert delivery["next_attempt_at"] > delivery["updated_at"]


def test_each_attempt_is_listed_with_its_time_verdict_answer_and_link(
    api: httpx.Client, services: Services
) -> None:
    story_site(services)
    _, ids = alarm_emails(services)
    ops_tries_again(services, ids["ops"])
    (delivery,) = api.get(f"/api/v1/outbox/{ids['ops']}").json()["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("sent", 3)
    history = delivery["history"]
    assert [(a["attempt"], a["status"], a["step"], a["code"], a["link"]) for a in history] == [
        (1, "queued", "rcpt_to", 451, ""),
        (2, "queued", "connect", 421, "backup-1"),
        (3, "sent", "data", 250, "backup-1"),
    ]
    assert [a["answer"] for a in history] == [LATER_REPLY, BUSY_REPLY, SENT_REPLY]
    assert [a["reason"] for a in history] == ["greylisted", "server_busy", ""]
    assert history[0]["at"] < history[1]["at"] < history[2]["at"] == delivery["updated_at"]
    anna = api.get(f"/api/v1/outbox/{ids['anna']}").json()["deliveries"][0]
    assert [(a["attempt"], a["answer"]) for a in anna["history"]] == [(1, SENT_REPLY)]
    listed = api.get("/api/v1/outbox").json()["deliveries"]
    assert len(listed) == 2
    assert not [row for row in listed if "history" in row]  # the list stays light


def test_an_email_not_about_one_event_has_no_event_id(
    api: httpx.Client, services: Services
) -> None:
    mail = compose(sender="a@example.com", to=["b@example.com"], subject="Hello", text="Hi")
    email_id = services.outbox.enqueue(mail)
    body = api.get(f"/api/v1/outbox/{email_id}").json()
    assert body["event_id"] is None
    assert body["deliveries"][0]["attempts"] == 0
    assert body["deliveries"][0]["history"] == []


def test_an_unknown_email_is_404_and_a_stranger_is_refused(
    api: httpx.Client, server: LiveServer
) -> None:
    missing = api.get("/api/v1/outbox/999999")
    assert missing.status_code == 404
    assert "999999" in missing.json()["detail"]
    assert api.get("/api/v1/outbox/abc").status_code == 422
    stranger = httpx.get(f"{server.url}/api/v1/outbox/1", timeout=10)
    assert stranger.status_code == 401


def test_headers_are_decoded_unfolded_and_a_secret_looking_one_is_hidden() -> None:
    raw = (
        b"From: =?utf-8?q?J=C3=B6rg?= <a@example.com>\r\n"
        b"Subject: a long\r\n folded subject\r\n"
        b"Authorization: Bearer abc123\r\n"
        b"X-Relay-Token: t0k3n\r\n"
        b"X-Note: bell\x07 and tab\there\r\n\r\nbody\r\n"
    )
    assert headers_of(raw) == (
        ("From", "Jörg <a@example.com>"),
        ("Subject", "a long folded subject"),
        ("Authorization", HIDDEN),
        ("X-Relay-Token", HIDDEN),
        ("X-Note", "bell and tab here"),
    )


def test_a_user_added_without_a_zone_gets_the_sites_zone(
    api: httpx.Client, services: Services
) -> None:
    services.sites.add_group({"id": "hq", "name": "Headquarters"})
    added = api.post(
        "/api/v1/users", json={"id": "bert", "name": "Bert", "email": "bert@example.org"}
    )
    assert added.status_code == 201, added.text
    assert added.json()["time_zone"] == "Europe/Vienna"
    assert services.sites.user("bert").time_zone == "Europe/Vienna"
