"""/metrics of `tocsin serve` as Prometheus scrapes it, after real deliveries: one email
accepted by the primary, one refused with 550, one carried by the backup link while the
primary is down.  The counters are the engine's own plain numbers (issue 11), so this
checks them end to end, through the real HTTP endpoint and Prometheus's own parser."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from helpers import serving, tocsin_cli
from tocsin.testing import ThreadedSMTPTestServer

REFUSED = "gone@example.net"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(url: str, token: str) -> Samples:
    answer = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def _scrape_until(url: str, token: str, done: Callable[[Samples], bool], what: str) -> Samples:
    deadline = time.monotonic() + 20
    while True:
        samples = _scrape(url, token)
        if done(samples):
            return samples
        assert time.monotonic() < deadline, f"{what} not seen in /metrics within 20 s: {samples}"
        time.sleep(0.1)


def _post(url: str, token: str, group: str, device: str) -> None:
    answer = httpx.post(
        f"{url}/api/v1/events",
        timeout=10,
        headers={"Authorization": f"Bearer {token}"},
        json={
            "group": group,
            "device": device,
            "sensor": "input 1",
            "category": "always",
            "severity": "alarm",
        },
    )
    assert answer.status_code == 202, answer.text


def _set_up(env: dict[str, str], primary: int, backup: int) -> tuple[str, str]:
    """Primary and one backup link, two users in two groups; (events token, admin token)."""
    link = ["encryption=none", "host=127.0.0.1", "sender_address=alarm@example.com"]
    tocsin_cli(env, "settings", "set", "enabled=true", f"port={primary}", *link)
    tocsin_cli(env, "settings", "failover", "link", "1", "enabled=true", f"port={backup}", *link)
    tocsin_cli(env, "settings", "failover", "set", "enabled=true", "after_failures=1")
    tocsin_cli(env, "group", "add", "site", "--name", "Site")
    for group, user, email in (("plant", "ops", "ops@example.net"), ("cellar", "old", REFUSED)):
        tocsin_cli(env, "group", "add", group, "--name", group.title(), "--parent", "site")
        tocsin_cli(
            env, "user", "add", user, "--name", user, "--email", email, "--group", group,
            "--category", "always",
        )  # fmt: skip
    events = tocsin_cli(env, "token", "create", "gateway").strip()
    admin = tocsin_cli(env, "token", "create", "prometheus", "--scope", "admin").strip()
    return events, admin


def test_metrics_count_real_deliveries_refusals_and_the_backup_link(tmp_path: Path) -> None:
    env = {**os.environ, "TOCSIN_DATA": str(tmp_path / "data"), "NO_COLOR": "1"}
    with ThreadedSMTPTestServer() as primary, ThreadedSMTPTestServer() as backup:
        primary.faults.reply_at("rcpt", "550 5.1.1 no such user", recipient=REFUSED)
        events, admin = _set_up(env, primary.port, backup.port)
        with serving(env) as running:
            url = running.url
            before = _scrape(url, admin)
            assert _value(before, "tocsin_outbox_sent_total") == 0
            assert _value(before, "tocsin_outbox_send_seconds_count") == 0

            _post(url, events, "plant", "Leak sensor")
            _post(url, events, "cellar", "Door contact")
            middle = _scrape_until(
                url,
                admin,
                lambda s: (
                    _value(s, "tocsin_outbox_deliveries", status="failed") == 1
                    and _value(s, "tocsin_outbox_sent_total") == 1
                ),
                "one sent, one refused",
            )
            primary.stop()  # the primary's port refuses connections from now on
            _post(url, events, "plant", "Smoke detector")
            after = _scrape_until(
                url,
                admin,
                # The engine counts a send as it hears the 250, the store shows it
                # once the verdict is committed, a few milliseconds later.
                lambda s: (
                    _value(s, "tocsin_outbox_sent_total") == 2
                    and _value(s, "tocsin_outbox_deliveries", status="sent") == 2
                ),
                "the email through the backup link, committed",
            )

    assert [m.rcpt_tos for m in primary.messages] == [("ops@example.net",)]
    assert "Leak sensor" in str(primary.messages[0].message()["Subject"])
    assert [m.rcpt_tos for m in backup.messages] == [("ops@example.net",)]
    assert "Smoke detector" in str(backup.messages[0].message()["Subject"])

    assert _value(middle, "tocsin_outbox_link_sent_total", link="primary") == 1
    refused = {"outcome": "failed", "reason": "recipient_rejected"}
    assert _value(middle, "tocsin_outbox_failures_total", **refused) == 1
    assert _value(middle, "tocsin_outbox_link_failures_total", link="primary") == 1
    assert _value(middle, "tocsin_outbox_send_seconds_count") == 2

    assert _value(after, "tocsin_outbox_link_sent_total", link="primary") == 1
    assert _value(after, "tocsin_outbox_link_sent_total", link="backup-1") == 1
    # The refused connection to the stopped primary is a failed attempt through it too.
    assert _value(after, "tocsin_outbox_link_failures_total", link="primary") == 2
    assert _value(after, "tocsin_outbox_link_failures_total", link="backup-1") is None
    assert _value(after, "tocsin_outbox_link_up", link="primary") == 0
    assert _value(after, "tocsin_outbox_link_up", link="backup-1") == 1
    assert _value(after, "tocsin_outbox_deliveries", status="sent") == 2
    assert _value(after, "tocsin_outbox_deliveries", status="failed") == 1
    assert _value(after, "tocsin_outbox_oldest_queued_age_seconds") == 0
    # Each email's send is timed once, also the one that moved to the backup link.
    assert _value(after, "tocsin_outbox_send_seconds_count") == 3
    assert _value(after, "tocsin_outbox_send_seconds_bucket", le="+Inf") == 3
    assert 0 < (_value(after, "tocsin_outbox_send_seconds_sum") or 0) < 20
