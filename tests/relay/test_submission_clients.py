"""Real clients log in to the relay's SMTP front and send through it to the real Postfix:
swaks (AUTH LOGIN, PLAIN; CRAM-MD5 is not offered) and Python's smtplib (LOGIN and PLAIN
chosen explicitly).  A wrong credential gets one clean 535 and no second try."""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage

import pytest
from relay_support import SITE_SENDER, InProcessRelay, signed_delivery

from helpers import RealSMTP
from smtp_clients import ServerTranscript, recording, swaks
from tocsin.relay.dkim_signer import DKIMKey
from tocsin.testing import TestCA

pytestmark = pytest.mark.postfix

AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_REFUSED = "535 5.7.8 Authentication credentials invalid"
SWAKS_AUTH_FAILED = 28  # swaks's exit status for "error during AUTH"


def unique_subject(client: str) -> str:
    return f"{client} through the relay {uuid.uuid4().hex[:12]}"


def swaks_args(relay: InProcessRelay, ca: TestCA, mechanism: str, password: str) -> list[str]:
    return [
        "--server", "localhost", "--port", str(relay.ports["smtp_port"]),
        "--tls", "--tls-verify", "--tls-ca-path", str(ca.ca_path),
        "--auth", mechanism, "--auth-user", "site-1", "--auth-password", password,
        "--auth-hide-password",
        "--from", SITE_SENDER, "--to", "ops@example.net",
        "--timeout", "10",
    ]  # fmt: skip


def assert_one_clean_refusal(transcript: ServerTranscript) -> None:
    """One AUTH, answered 535, and no mail transaction after it."""
    assert transcript.replies_to("AUTH") == [AUTH_REFUSED], transcript.lines
    assert transcript.commands("MAIL") == []


def smtplib_client(relay: InProcessRelay, ca: TestCA) -> smtplib.SMTP:
    smtp = smtplib.SMTP("localhost", relay.ports["smtp_port"], timeout=10)
    smtp.starttls(context=ca.client_context())
    smtp.ehlo("smtplib.test")
    return smtp


def smtplib_login(smtp: smtplib.SMTP, mechanism: str, password: str) -> tuple[int, bytes]:
    """Log in with ``mechanism`` only (``login()`` would pick one and try others)."""
    smtp.user, smtp.password = "site-1", password
    auth = {"LOGIN": smtp.auth_login, "PLAIN": smtp.auth_plain}[mechanism]
    # No initial response: LOGIN then answers both challenges.
    return smtp.auth(mechanism, auth, initial_response_ok=False)


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_swaks_logs_in_and_sends(
    mechanism: str,
    front: tuple[str, InProcessRelay],
    real_smtp: RealSMTP,
    ca: TestCA,
    dkim_key: DKIMKey,
) -> None:
    credential, relay = front
    subject = unique_subject(f"swaks {mechanism}")
    args = swaks_args(relay, ca, mechanism, credential)
    with recording() as transcript:
        done = swaks([*args, "--header", f"Subject: {subject}", "--body", "Door forced."])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"AUTH {mechanism}" in done.stdout
    if mechanism == "LOGIN":  # the challenges, base64 as on the wire
        assert "<~  334 VXNlcm5hbWU6" in done.stdout  # "Username:"
        assert "<~  334 UGFzc3dvcmQ6" in done.stdout  # "Password:"
    assert AUTH_OK in done.stdout
    assert "250 2.0.0 Ok: queued as msg_" in done.stdout
    assert transcript.replies_to("AUTH") == [AUTH_OK]
    parsed = signed_delivery(real_smtp, subject, dkim_key)
    assert parsed["Reply-To"] == SITE_SENDER


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_swaks_with_a_wrong_credential_is_refused_once(
    mechanism: str, front: tuple[str, InProcessRelay], ca: TestCA
) -> None:
    _, relay = front
    with recording() as transcript:
        done = swaks(swaks_args(relay, ca, mechanism, "tcr_not-the-credential"))
    assert done.returncode == SWAKS_AUTH_FAILED, done.stdout + done.stderr
    assert AUTH_REFUSED in done.stdout
    assert_one_clean_refusal(transcript)


def test_swaks_cram_md5_is_not_offered_and_refused_cleanly(
    front: tuple[str, InProcessRelay], ca: TestCA
) -> None:
    # Credentials are stored hashed, so CRAM-MD5 (which needs the password) is not offered;
    # swaks sees that in the EHLO reply and gives up without sending AUTH or mail.
    credential, relay = front
    with recording() as transcript:
        done = swaks(swaks_args(relay, ca, "CRAM-MD5", credential))
        # A client that tries it anyway gets 504 (RFC 4954 §4) and may carry on.
        with smtplib_client(relay, ca) as smtp:
            assert smtp.docmd("AUTH", "CRAM-MD5")[0] == 504
            assert smtplib_login(smtp, "PLAIN", credential)[0] == 235
    assert done.returncode == SWAKS_AUTH_FAILED, done.stdout + done.stderr
    assert "<~  250-AUTH PLAIN LOGIN" in done.stdout
    assert "Auth not attempted, requested type not available" in done.stderr
    assert " ~> QUIT" in done.stdout  # it leaves cleanly ...
    assert " ~> MAIL" not in done.stdout  # ... sending nothing
    assert [line.text for line in transcript.commands("AUTH")] == ["AUTH CRAM-MD5", "AUTH PLAIN"]
    assert transcript.commands("MAIL") == []


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_smtplib_logs_in_and_sends(
    mechanism: str,
    front: tuple[str, InProcessRelay],
    real_smtp: RealSMTP,
    ca: TestCA,
    dkim_key: DKIMKey,
) -> None:
    credential, relay = front
    subject = unique_subject(f"smtplib {mechanism}")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SITE_SENDER, "ops@example.net", subject
    message.set_content("Temperature in rack 3 above 35 °C.\n")
    with recording() as transcript, smtplib_client(relay, ca) as smtp:
        assert smtp.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        code, _ = smtplib_login(smtp, mechanism, credential)
        assert code == 235
        assert smtp.send_message(message) == {}
    assert [line.text for line in transcript.commands("AUTH")] == [f"AUTH {mechanism}"]
    parsed = signed_delivery(real_smtp, subject, dkim_key)
    assert "rack 3" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_smtplib_with_a_wrong_credential_is_refused_once(
    mechanism: str, front: tuple[str, InProcessRelay], ca: TestCA
) -> None:
    _, relay = front
    with recording() as transcript, smtplib_client(relay, ca) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtplib_login(smtp, mechanism, "tcr_not-the-credential")
        assert refused.value.smtp_code == 535
        assert smtp.noop()[0] == 250  # the session is still in step
    assert_one_clean_refusal(transcript)
