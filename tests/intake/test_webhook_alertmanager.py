"""Done-when of issue 14: Debian's real Alertmanager posts its webhook to a running
``tocsin serve``; the alarm and its threaded clear land in the real Postfix Maildir,
and Alertmanager's repeated notifications create no second event or email."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import RealSMTP, Serving, maildir_messages, serving, tocsin_cli, wait_for_delivery
from smtp_clients import Alertmanager

pytestmark = pytest.mark.postfix

WAIT = 30.0  # seconds any one step may take


def _config(url: str, token: str) -> dict[str, Any]:
    """Alertmanager sending at once, repeating every 2 s, resolved alerts too."""
    return {
        "route": {
            "receiver": "tocsin",
            "group_by": ["alertname"],
            "group_wait": "100ms",
            "group_interval": "1s",
            "repeat_interval": "2s",
        },
        "receivers": [
            {
                "name": "tocsin",
                "webhook_configs": [
                    {
                        "url": f"{url}/api/v1/intake/alertmanager",
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
                    }
                ],
            }
        ],
    }


def _set_up(env: dict[str, str], smtp: RealSMTP, recipient: str) -> str:
    tocsin_cli(
        env,
        "settings",
        "set",
        "enabled=true",
        "encryption=none",
        "host=127.0.0.1",
        f"port={smtp.plain_port}",
        "sender_address=alarm@example.com",
        "sender_name=Tocsin",
        "ehlo_name=tocsin.test",
    )
    tocsin_cli(env, "group", "add", "site", "--name", "Site")
    tocsin_cli(env, "group", "add", "plant", "--name", "Plant room", "--parent", "site")
    tocsin_cli(
        env, "user", "add", "ops", "--name", "Ops", "--email", recipient,
        "--group", "site", "--category", "always",
    )  # fmt: skip
    return tocsin_cli(env, "token", "create", "alertmanager").strip()


def _post(am: Alertmanager, alert: dict[str, Any]) -> None:
    answer = httpx.post(f"{am.url}/api/v2/alerts", json=[alert], timeout=5)
    assert answer.status_code == 200, answer.text


def _events(tocsin: Serving, admin_token: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{tocsin.url}/api/v1/events",
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


def _mails(smtp: RealSMTP, name: str) -> list[EmailMessage]:
    return [m for m in maildir_messages(smtp.maildir) if name in str(m["Subject"])]


def _notified(am: Alertmanager) -> int:
    return am.log_text().count('msg="Notify success"')


def test_alertmanager_alarm_and_clear_arrive_threaded_once(
    tmp_path: Path, real_smtp: RealSMTP
) -> None:
    env = {**os.environ, "TOCSIN_DATA": str(tmp_path / "data"), "NO_COLOR": "1"}
    env.pop("TOCSIN_DATABASE_URL", None)
    name = f"LeakDetected{uuid.uuid4().hex[:10]}"
    recipient = f"ops-{uuid.uuid4().hex[:8]}@example.net"
    token = _set_up(env, real_smtp, recipient)
    admin_token = tocsin_cli(env, "token", "create", "reader", "--scope", "admin").strip()
    started = datetime.now(UTC).replace(microsecond=0)
    alert = {
        "labels": {
            "alertname": name,
            "severity": "critical",
            "group": "plant",
            "instance": "leak-7",
        },
        "annotations": {"summary": "Water under the chiller"},
        "startsAt": started.isoformat(),
        "endsAt": (started + timedelta(hours=1)).isoformat(),
    }
    with serving(env) as tocsin:
        am = Alertmanager(_config(tocsin.url, token), tmp_path / "am")
        try:
            _post(am, alert)
            raised = wait_for_delivery(real_smtp, lambda m: name in str(m["Subject"]), timeout=WAIT)
            assert str(raised["Subject"]).startswith("[ALARM]")
            assert "Plant room" in str(raised["Subject"])
            assert raised["To"] == recipient
            # Alertmanager repeats the firing notification (repeat_interval 2 s) ...
            deadline = time.monotonic() + WAIT
            while _notified(am) < 3:
                assert time.monotonic() < deadline, am.log_text()
                time.sleep(0.2)
            # ... and Tocsin keeps one event and sends one email.
            assert len(_mails(real_smtp, name)) == 1
            assert [e["state"] for e in _events(tocsin, admin_token)] == ["raised"]

            ended = datetime.now(UTC) - timedelta(seconds=1)
            _post(am, {**alert, "endsAt": ended.isoformat()})
            cleared = wait_for_delivery(
                real_smtp,
                lambda m: name in str(m["Subject"]) and "[CLEARED]" in str(m["Subject"]),
                timeout=WAIT,
            )
        finally:
            am.stop()
        events = _events(tocsin, admin_token)
    assert cleared["In-Reply-To"] == raised["Message-ID"]
    assert cleared["References"] == raised["Message-ID"]
    assert [e["state"] for e in reversed(events)] == ["raised", "cleared"]
    assert events[0]["clears"] == events[1]["id"]
    assert len(_mails(real_smtp, name)) == 2, "no duplicate email"
