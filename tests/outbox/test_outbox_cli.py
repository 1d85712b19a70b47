"""`tocsin outbox list|show|retry|purge`: the real command, in a subprocess, on a real store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from outbox_support import enqueue

from delivery_story import (
    BUSY_REPLY,
    LATER_REPLY,
    SENT_REPLY,
    alarm_emails,
    ops_tries_again,
    story_site,
)
from tocsin.outbox import DeliveryUpdate, Status
from tocsin.services.context import Services

A, B, C = "ops@example.net", "boss@example.net", "night@example.net"
DAY = 86400.0


def tocsin(data: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    """Run ``tocsin outbox ...`` on ``data``; check the exit status."""
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "TOCSIN_DATA": str(data)}
    env.pop("TOCSIN_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "tocsin", "outbox", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == code, done.stdout + done.stderr
    return done


@pytest.fixture
def emails(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """A data directory with one email sent long ago, one dead + failed, one queued."""
    data = tmp_path / "data"
    services = Services.open(data)
    store = services.store
    now = time.time()
    old = now - 10 * DAY
    ids = {"sent": enqueue(store, A, subject="Old fire alarm", now=old)}
    (claimed,) = store.claim(owner="w", now=old, limit=10, lease=60)
    sent = DeliveryUpdate(claimed.deliveries[0].id, Status.SENT, step="data", code=250,
                          server_reply="250 2.0.0 Ok: queued as 4XyZ")  # fmt: skip
    store.record([sent], owner="w", now=old)
    ids["bad"] = enqueue(store, A, B, subject="Sabotage alarm", now=now - 60)
    (claimed,) = store.claim(owner="w", now=now - 60, limit=10, lease=60)
    a, b = claimed.deliveries
    dead = DeliveryUpdate(a.id, Status.DEAD, None, True, "data", "timeout", "no answer")
    failed = DeliveryUpdate(
        b.id, Status.FAILED, None, True, "rcpt_to", "recipient_rejected",
        "550 5.1.1 no such user", 550,
    )  # fmt: skip
    store.record([dead, failed], owner="w", now=now - 30)
    ids["queued"] = enqueue(store, C, subject="Warning: door open", now=now)
    services.close()
    return data, ids


def listed(data: Path, *args: str) -> list[dict[str, object]]:
    rows = json.loads(tocsin(data, "list", "--json", *args).stdout)
    assert isinstance(rows, list)
    return rows


def test_list_filters_and_orders_newest_first(emails):
    data, ids = emails
    rows = listed(data)
    assert [(r["email_id"], r["recipient"], r["status"]) for r in rows] == [
        (ids["queued"], C, "queued"),
        (ids["bad"], B, "failed"),  # newest first; same email: higher id first
        (ids["bad"], A, "dead"),
        (ids["sent"], A, "sent"),
    ]
    assert [r["recipient"] for r in listed(data, "--status", "dead", "--status", "failed")] == [
        B,
        A,
    ]
    assert [r["email_id"] for r in listed(data, "--recipient", "BOSS@")] == [ids["bad"]]
    assert [r["email_id"] for r in listed(data, "--older-than", "1d")] == [ids["sent"]]
    assert len(listed(data, "--newer-than", "1h", "--limit", "2")) == 2
    table = tocsin(data, "list").stdout
    assert "Sabotage alarm" in table
    assert "recipient_rejected" in table
    tocsin(data, "list", "--older-than", "soon", code=2)


def test_show_tells_each_recipients_story(emails):
    data, ids = emails
    text = tocsin(data, "show", str(ids["bad"])).stdout
    assert f"email {ids['bad']}" in text
    assert "Sabotage alarm" in text
    assert "boss@example.net  failed, 1 attempt(s)" in text
    assert "last error    recipient_rejected at rcpt_to: 550 5.1.1 no such user" in text
    shown = json.loads(tocsin(data, "show", str(ids["sent"]), "--json", "--content").stdout)
    assert shown["deliveries"][0]["server_reply"] == "250 2.0.0 Ok: queued as 4XyZ"
    assert "Subject: Old fire alarm" in shown["content"]
    missing = tocsin(data, "show", "999999", code=1)
    assert "999999" in missing.stderr


def test_retry_and_purge(emails):
    data, ids = emails
    out = tocsin(data, "retry", str(ids["bad"])).stdout
    assert "2 recipient(s) queued again" in out
    again = listed(data, "--recipient", "example.net", "--status", "queued")
    assert sorted((r["email_id"], r["recipient"], r["attempts"]) for r in again) == sorted(
        [(ids["queued"], C, 0), (ids["bad"], A, 0), (ids["bad"], B, 0)]
    )
    assert "Nothing to retry" in tocsin(data, "retry", str(ids["sent"])).stdout
    tocsin(data, "retry", "999999", code=1)
    assert "0 deliveries purged" in tocsin(data, "purge", "--older-than-days", "30").stdout
    assert "1 deliveries purged" in tocsin(data, "purge", "--older-than-days", "7").stdout
    tocsin(data, "show", str(ids["sent"]), code=1)  # its last delivery gone: the email too
    assert {r["email_id"] for r in listed(data)} == {ids["bad"], ids["queued"]}
    tocsin(data, "purge", "--older-than-days", "-1", code=2)


def test_show_gives_attempts_answers_headers_and_the_event(tmp_path: Path) -> None:
    data = tmp_path / "data"
    services = Services.open(data)
    story_site(services)
    event_id, ids = alarm_emails(services)
    services.settings.update({"username": "alarm@example.com", "password": "n0t-shown-Pw"})
    services.close()

    text = tocsin(data, "show", str(ids["anna"])).stdout
    assert f"event     {event_id}" in text
    assert "anna@example.com  sent, 1 attempt(s)" in text
    assert "  last attempt  " in text
    assert "  sent          " in text
    assert f"  server said   {SENT_REPLY}" in text
    assert "headers" in text
    assert f"  Message-ID: <{event_id}." in text
    assert "  To: anna@example.com" in text
    assert "n0t-shown-Pw" not in text

    later = tocsin(data, "show", str(ids["ops"])).stdout
    assert "ops@example.net  queued, 1 attempt(s)" in later
    assert "  next attempt  " in later
    assert f"last error    greylisted at rcpt_to: {LATER_REPLY}" in later
    assert "  sent          " not in later

    assert "  attempts (newest first)" in later
    assert re.search(rf"#1 +\S+ \S+ UTC  queued at rcpt_to\n +{re.escape(LATER_REPLY)}", later)

    services = Services.open(data)
    ops_tries_again(services, ids["ops"])
    services.close()
    tried = tocsin(data, "show", str(ids["ops"])).stdout
    lines = [line.split(" UTC  ")[-1] for line in tried.splitlines() if line.startswith("    #")]
    assert lines == ["sent at data via backup-1", "queued at connect via backup-1",
                     "queued at rcpt_to"]  # newest first  # fmt: skip
    assert tried.index(SENT_REPLY) < tried.index(BUSY_REPLY) < tried.index(LATER_REPLY)

    shown = json.loads(tocsin(data, "show", str(ids["anna"]), "--json").stdout)
    assert shown["event_id"] == event_id
    assert shown["content"] is None
    assert shown["deliveries"][0]["sent_at"] == shown["deliveries"][0]["updated_at"]
    assert {"name": "To", "value": "anna@example.com"} in shown["headers"]
