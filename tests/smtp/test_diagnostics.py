"""The test email's transcript and hints, against in-process servers with faults."""

from __future__ import annotations

import pytest
from smtp_support import PASSWORD, USER, settings_for

from tocsin.errors import Step
from tocsin.secret import Secret
from tocsin.settings import EmailSettings, Encryption
from tocsin.testing import SMTPTestServer, closed_port
from tocsin.transports import StepStatus
from tocsin.transports.diagnostics import run_test_email

TO = "ops@example.net"


def steps(report):
    return [(s.step, s.status) for s in report.steps]


async def test_success_reports_every_step_in_order(ca):
    seen = []
    async with SMTPTestServer(
        ca=ca, tls="starttls", username=USER, password=PASSWORD, auth_required=True
    ) as srv:
        report = await run_test_email(settings_for(srv), TO, progress=seen.append)
    assert report.ok, report.as_dict()
    done = [s.step for s in report.steps if s.status is StepStatus.OK]
    assert done == [
        Step.RESOLVE,
        Step.CONNECT,
        Step.CONNECT,
        Step.EHLO,
        Step.TLS,
        Step.EHLO,
        Step.AUTH,
        Step.MAIL_FROM,
        Step.RCPT_TO,
        Step.DATA,
        Step.QUIT,
    ]
    assert seen == report.steps  # progress saw every step as it happened
    tls = next(s for s in report.steps if s.step is Step.TLS and s.status is StepStatus.OK)
    assert "TLSv1." in tls.summary
    assert "valid until" in tls.summary
    ehlo = next(s for s in report.steps if s.step is Step.EHLO and s.status is StepStatus.OK)
    assert "STARTTLS" in ehlo.summary
    auth = next(s for s in report.steps if s.step is Step.AUTH and s.status is StepStatus.OK)
    assert "PLAIN" in auth.summary
    assert report.server_reply.startswith("250")
    assert srv.messages[0].message()["Message-ID"] == report.message_id
    assert PASSWORD not in repr(report.as_dict())


async def _failure(settings, to=TO, language="en"):
    report = await run_test_email(settings, to, language=language)
    assert not report.ok
    failure = report.failure
    assert failure is not None
    assert failure.hint, failure
    return failure


async def test_wrong_password_hint_mentions_app_passwords(ca):
    async with SMTPTestServer(ca=ca, tls="implicit", username=USER, password=PASSWORD) as srv:
        failure = await _failure(settings_for(srv, password=Secret("wrong")))
    assert failure.step is Step.AUTH
    assert "535" in failure.summary
    assert "app-specific password" in failure.hint


async def test_hints_in_german(ca):
    async with SMTPTestServer(ca=ca, tls="implicit", username=USER, password=PASSWORD) as srv:
        failure = await _failure(settings_for(srv, password=Secret("wrong")), language="de")
    assert "anwendungsspezifisches Passwort" in failure.hint


async def test_self_signed_certificate_hint_describes_the_certificate(ca):
    async with SMTPTestServer(
        ca=ca, tls="implicit", server_context=ca.untrusted_server_context()
    ) as srv:
        failure = await _failure(settings_for(srv))
    assert failure.step is Step.TLS
    assert "CA file" in failure.hint
    assert "valid until" in failure.hint  # the certificate, read without trusting it


async def test_hostname_mismatch_hint_names_the_certificate_names(ca):
    async with SMTPTestServer(
        ca=ca, tls="implicit", server_context=ca.wrong_host_server_context()
    ) as srv:
        failure = await _failure(settings_for(srv))
    assert "wrong.example.test" in failure.hint
    assert "localhost" in failure.hint


async def test_starttls_missing_hint(ca):
    async with SMTPTestServer(
        ca=ca, tls="starttls", offer_starttls=False, require_starttls=False
    ) as srv:
        failure = await _failure(settings_for(srv))
    assert failure.step is Step.STARTTLS
    assert "never falls back" in failure.hint
    assert srv.messages == []


async def test_ssl_against_a_starttls_port_hint(ca):
    async with SMTPTestServer(ca=ca, tls="starttls") as srv:
        failure = await _failure(settings_for(srv, encryption=Encryption.SSL))
    assert failure.step is Step.TLS
    assert "Choose STARTTLS" in failure.hint


async def test_starttls_against_an_ssl_port_hint(ca):
    async with SMTPTestServer(ca=ca, tls="implicit") as srv:
        failure = await _failure(settings_for(srv, encryption=Encryption.STARTTLS, timeout=1.0))
    assert failure.step is Step.CONNECT
    assert "expects SSL" in failure.hint


async def test_sender_refused_hint(ca):
    async with SMTPTestServer(ca=ca) as srv:
        srv.faults.reply_at("mail", "553 5.7.1 Sender address rejected: not owned by user")
        failure = await _failure(settings_for(srv))
    assert failure.step is Step.MAIL_FROM
    assert "must belong to the account" in failure.hint


async def test_recipient_refused_hint(ca):
    async with SMTPTestServer(ca=ca) as srv:
        srv.faults.reply_at("rcpt", "550 5.1.1 no such user")
        failure = await _failure(settings_for(srv))
    assert failure.step is Step.RCPT_TO
    assert TO in failure.hint


async def test_busy_server_hint(ca):
    async with SMTPTestServer(ca=ca) as srv:
        srv.faults.reply_at("connect", "421 4.3.2 too many connections")
        failure = await _failure(settings_for(srv))
    assert "retried automatically" in failure.hint


async def test_nothing_listening_hint():
    with closed_port() as port:
        settings = EmailSettings(
            host="127.0.0.1", port=port, sender_address=USER, ehlo_name="t.test", timeout=2.0
        )
        failure = await _failure(settings)
    assert failure.step is Step.CONNECT
    assert "Nothing accepts connections" in failure.hint
    assert "587" in failure.hint


async def test_unknown_server_name_hint():
    settings = EmailSettings(
        host="no-such-host.invalid", sender_address=USER, ehlo_name="t.test", timeout=5.0
    )
    failure = await _failure(settings)
    assert failure.step is Step.RESOLVE
    assert "could not be found" in failure.hint


@pytest.mark.parametrize("language", ["en", "de"])
async def test_test_email_text_in_the_language(ca, language):
    async with SMTPTestServer(ca=ca) as srv:
        report = await run_test_email(settings_for(srv), TO, language=language)
    assert report.ok
    message = srv.messages[0].message()
    # Text and HTML, like the alarm emails; both in the language.
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    expected = "This is a test email" if language == "en" else "Dies ist eine Test-E-Mail"
    assert expected in plain
    assert expected in html
    assert f'<html lang="{language}">' in html
