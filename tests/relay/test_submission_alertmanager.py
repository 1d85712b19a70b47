"""Prometheus Alertmanager (Debian's package: the real Go binary) uses the relay's SMTP
front as its smarthost: STARTTLS, AUTH, and the alert arrives DKIM-signed in the real
Postfix's Maildir.  Go's SMTP client is the strict one (issue 15): it takes the first
mechanism the server lists, and its LOGIN wants the ``Username:`` challenge."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from relay_support import SITE_SENDER, InProcessRelay, signed_delivery

from helpers import RealSMTP
from smtp_clients import EmailReceiver, alertmanager, recording, unique_alertname
from tocsin.relay.dkim_signer import DKIMKey
from tocsin.testing import TestCA

pytestmark = pytest.mark.postfix

AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_REFUSED = "535 5.7.8 Authentication credentials invalid"
WINDOW = 8.0  # seconds in which a refused Alertmanager's AUTH attempts are counted
MAX_ATTEMPTS = 10  # its back-off (0.5 s, x1.5 per retry) makes about 6 in that window


def to_relay(relay: InProcessRelay, password: str, ca: TestCA) -> EmailReceiver:
    return EmailReceiver(
        smarthost=f"127.0.0.1:{relay.ports['smtp_port']}",
        username="site-1",
        password=password,
        sender=SITE_SENDER,
        to="ops@example.net",
        ca_file=ca.ca_path,
    )


def test_alertmanager_sends_through_the_front(
    front: tuple[str, InProcessRelay],
    real_smtp: RealSMTP,
    ca: TestCA,
    dkim_key: DKIMKey,
    tmp_path: Path,
) -> None:
    credential, relay = front
    subject = unique_alertname()
    with recording() as transcript, alertmanager(to_relay(relay, credential, ca), tmp_path) as am:
        am.post_alert(subject, severity="critical", site="berlin-1")
        try:
            parsed = signed_delivery(real_smtp, subject, dkim_key)
        except AssertionError as missing:
            raise AssertionError(f"{missing}\nalertmanager's log:\n{am.log_text()}") from None
    assert parsed["Reply-To"] == SITE_SENDER
    assert parsed["Return-Path"] == "<bounces@relay.example.com>"
    assert "ESMTPSA" in " ".join(parsed.get_all("Received", []))  # the relay's trace header
    assert "berlin-1" in parsed.get_body(("html", "plain")).get_content()  # type: ignore[union-attr]
    # One login, at the first attempt.
    assert len(transcript.commands("AUTH")) == 1
    assert transcript.replies_to("AUTH") == [AUTH_OK]


@pytest.mark.slow  # it watches the retries for WINDOW seconds
def test_alertmanager_with_a_wrong_credential_is_refused_and_backs_off(
    front: tuple[str, InProcessRelay], ca: TestCA, tmp_path: Path
) -> None:
    _, relay = front
    subject = unique_alertname()
    receiver = to_relay(relay, "tcr_not-the-credential", ca)
    with recording() as transcript, alertmanager(receiver, tmp_path) as am:
        am.post_alert(subject, severity="critical")
        logged = am.wait_for_log("535 5.7.8", timeout=20.0)
        first = transcript.commands("AUTH")[0].at
        time.sleep(max(0.0, first + WINDOW - time.monotonic()))
        attempts = [line for line in transcript.commands("AUTH") if line.at <= first + WINDOW]
    # It says why, in the words of the server (Alertmanager logs the SMTP error).
    assert "auth: 535 5.7.8 Authentication credentials invalid" in logged
    # Every attempt was answered 535 (before issue 15: 501, Alertmanager aborting LOGIN) ...
    replies = transcript.replies_to("AUTH")
    assert set(replies) == {AUTH_REFUSED}, transcript.lines
    assert len(replies) >= len(attempts)
    # ... and no retry storm: a handful of attempts, spaced by its back-off.
    assert 1 <= len(attempts) <= MAX_ATTEMPTS, [line.at - first for line in attempts]
    assert transcript.commands("MAIL") == []
