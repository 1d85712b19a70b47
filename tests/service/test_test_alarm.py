"""A test alarm to one user (issue 12): the real alarm email in the user's language,
routed and queued like any alarm, delivered by the running service to a real SMTP
server, and listed in the delivery log; refused, in plain words, when a real alarm
would not reach the user."""

from __future__ import annotations

import json
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from service_support import service_env, set_up_site, wait_until

from helpers import serving
from tocsin.services.context import Services
from tocsin.services.inputs import InputRefused
from tocsin.testing import ThreadedSMTPTestServer


def _add_users(data: Path) -> None:
    services = Services.open(data)
    try:
        services.sites.add_user(
            {"id": "anna", "name": "Anna Berg", "email": "anna@example.net", "language": "de",
             "time_zone": "Europe/Berlin", "groups": ["site"], "categories": ["fire"]}
        )  # fmt: skip
        services.sites.add_user(
            {"id": "lone", "name": "Lone Ranger", "email": "lone@example.net",
             "categories": ["fire"]}
        )  # fmt: skip
    finally:
        services.close()


def _to(smtp: ThreadedSMTPTestServer, address: str) -> list[EmailMessage]:
    return [m.message() for m in smtp.messages if address in str(m.message()["To"])]


def test_a_test_alarm_reaches_the_user_in_their_language_by_api_and_cli(tmp_path: Path) -> None:
    with ThreadedSMTPTestServer(tls="none") as smtp:
        env = service_env(tmp_path / "data")
        _, admin = set_up_site(env, smtp.port)
        _add_users(tmp_path / "data")
        auth = {"Authorization": f"Bearer {admin}"}
        with serving(env) as running, httpx.Client(base_url=running.url, timeout=30) as client:
            answer = client.post("/api/v1/users/anna/test-alarm", headers=auth)
            assert answer.status_code == 202, answer.text
            sent = answer.json()
            assert (sent["user"], sent["email"], sent["group"], sent["category"]) == (
                "anna", "anna@example.net", "site", "fire",
            )  # fmt: skip
            wait_until(lambda: bool(_to(smtp, "anna@example.net")), "Anna's test alarm")
            mail = _to(smtp, "anna@example.net")[0]
            body = mail.get_body(("plain",))
            assert body is not None
            text = body.get_content()
            # The alarm template, in German, with the test's own words.
            assert "Testalarm" in str(mail["Subject"]), mail["Subject"]
            assert "Dies ist ein Testalarm" in text
            assert "Anna Berg" in text
            assert "This is a test alarm" not in text
            # Listed in the delivery log, and as an event.
            log = client.get(
                "/api/v1/outbox", params={"recipient": "anna@example.net"}, headers=auth
            )
            assert [d["status"] for d in log.json()["deliveries"]] == ["sent"]
            event = client.get(f"/api/v1/events/{sent['event']}", headers=auth)
            assert event.status_code == 200, event.text
            assert event.json()["group"] == "site"

            # The CLI does the same, for the English user.
            done = subprocess.run(
                [sys.executable, "-m", "tocsin", "user", "test-alarm", "ops", "--json"],
                env=env, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["email"] == "ops@example.net"
            wait_until(lambda: bool(_to(smtp, "ops@example.net")), "the CLI's test alarm")
            ops = _to(smtp, "ops@example.net")[0].get_body(("plain",))
            assert ops is not None
            assert "This is a test alarm" in ops.get_content()

            # A user a real alarm cannot reach gets none, and the answer says why.
            refused = client.post("/api/v1/users/lone/test-alarm", headers=auth)
            assert refused.status_code == 422, refused.text
            messages = [i["message"] for i in refused.json()["issues"]]
            assert messages == [
                "Lone Ranger is in no alarm group, so no alarm can reach them: "
                "assign a group first."
            ]
            missing = client.post("/api/v1/users/nobody/test-alarm", headers=auth)
            assert missing.status_code == 404
        assert not _to(smtp, "lone@example.net")


def _services(tmp_path: Path, **settings: object) -> Services:
    services = Services.open(tmp_path / "data")
    services.settings.update(
        {"enabled": True, "encryption": "none", "host": "127.0.0.1", "port": 2525,
         "sender_address": "alarm@example.com", **settings}
    )  # fmt: skip
    services.sites.import_site(
        {
            "groups": [{"id": "site", "name": "Plant room",
                        "policies": {"fire": {"max_per_hour": 1}}}],
            "users": [{"id": "anna", "name": "Anna Berg", "email": "anna@example.net",
                       "groups": ["site"], "categories": ["fire"]}],
        }
    )  # fmt: skip
    return services


def _queued(services: Services) -> int:
    return sum(services.outbox.counts().values())


def test_a_test_alarm_is_refused_where_a_real_one_would_be_held_and_uses_no_cap(
    tmp_path: Path,
) -> None:
    services = _services(tmp_path)
    try:
        # A test alarm does not use up the hourly cap of one...
        services.events.send_test_alarm("anna")
        services.events.send_test_alarm("anna")
        assert _queued(services) == 2
        fire = {"group": "site", "device": "Rack", "sensor": "Smoke", "category": "fire",
                "severity": "alarm"}  # fmt: skip
        assert services.events.submit(fire)[0].notified == 1
        # ...but once a real alarm used it, a test alarm says a real one would be held.
        with pytest.raises(InputRefused) as refused:
            services.events.send_test_alarm("anna")
        assert [i.text("de") for i in refused.value.issues] == [
            "Das Stundenlimit von Plant room ist erreicht: Ein echter Alarm an Anna Berg "
            "würde jetzt für eine Zusammenfassung zurückgehalten, daher wurde kein "
            "Testalarm gesendet."
        ]
        assert _queued(services) == 3
        services.sites.update_user("anna", {"enabled": False})
        with pytest.raises(InputRefused, match="disabled"):
            services.events.send_test_alarm("anna")
        services.settings.update({"enabled": False})
        with pytest.raises(InputRefused, match="turned off"):
            services.events.send_test_alarm("anna")
        assert _queued(services) == 3
    finally:
        services.close()
