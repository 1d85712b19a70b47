"""Postfix as a client of the relay's SMTP front: a site's own Postfix with the relay as
its ``relayhost`` (STARTTLS verified, SASL PLAIN or LOGIN through Cyrus SASL); the mail
arrives DKIM-signed in the real Postfix.  A wrong credential defers the mail: one AUTH,
one 535, and the next try only at Postfix's queue run, minutes later."""

from __future__ import annotations

import smtplib
import time
import uuid
from email.message import EmailMessage

import pytest
from relay_support import SITE_SENDER, InProcessRelay, signed_delivery

from helpers import RealSMTP
from postfix_client import PostfixClient
from smtp_clients import recording
from tocsin.relay.dkim_signer import DKIMKey
from tocsin.testing import TestCA

pytestmark = pytest.mark.postfix

AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_REFUSED = "535 5.7.8 Authentication credentials invalid"
WINDOW = 5.0  # seconds after a refused AUTH in which no second one may come


def alarm(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SITE_SENDER, "ops@example.net", subject
    message.set_content("Water detected under the raised floor.\n")
    return message


def submit(postfix: PostfixClient, message: EmailMessage) -> None:
    """Hand ``message`` to the Postfix client (plain SMTP on loopback)."""
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=10) as smtp:
        assert smtp.send_message(message) == {}


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_postfix_relays_through_the_front(
    mechanism: str,
    front: tuple[str, InProcessRelay],
    real_smtp: RealSMTP,
    ca: TestCA,
    dkim_key: DKIMKey,
) -> None:
    credential, relay = front
    subject = f"Postfix {mechanism} through the relay {uuid.uuid4().hex[:12]}"
    client = PostfixClient(
        relay_port=relay.ports["smtp_port"],
        username="site-1",
        password=credential,
        ca_file=ca.ca_path,
        mechanism=mechanism,
    )
    with recording() as transcript, client as postfix:
        submit(postfix, alarm(subject))
        try:
            parsed = signed_delivery(real_smtp, subject, dkim_key)
        except AssertionError as missing:
            raise AssertionError(
                f"{missing}\nPostfix client's log:\n{postfix.log_text()}"
            ) from None
        logged = postfix.wait_for_log("status=sent")
    assert f"relay=localhost[127.0.0.1]:{relay.ports['smtp_port']}" in logged
    assert "Verified TLS connection established to localhost" in logged
    (auth,) = transcript.commands("AUTH")
    assert auth.text.startswith(f"AUTH {mechanism}")
    assert transcript.replies_to("AUTH") == [AUTH_OK]
    assert "postfix-client.test" in " ".join(parsed.get_all("Received", []))


@pytest.mark.slow  # it waits WINDOW seconds for a second try that must not come
def test_postfix_with_a_wrong_credential_defers_and_does_not_retry(
    front: tuple[str, InProcessRelay], ca: TestCA
) -> None:
    _, relay = front
    subject = f"Postfix refused {uuid.uuid4().hex[:12]}"
    client = PostfixClient(
        relay_port=relay.ports["smtp_port"],
        username="site-1",
        password="tcr_not-the-credential",
        ca_file=ca.ca_path,
    )
    with recording() as transcript, client as postfix:
        submit(postfix, alarm(subject))
        logged = postfix.wait_for_log("status=deferred")
        first = transcript.commands("AUTH")[0].at
        time.sleep(max(0.0, first + WINDOW - time.monotonic()))
        attempts = transcript.commands("AUTH")
    # Postfix names the server's answer and keeps the mail (soft bounce) ...
    assert f"SASL authentication failed; server localhost[127.0.0.1] said: {AUTH_REFUSED}" in (
        logged
    )
    # ... after one clean refusal, and no second try within the window.
    assert len(attempts) == 1, attempts
    assert transcript.replies_to("AUTH") == [AUTH_REFUSED]
    assert transcript.commands("MAIL") == []
