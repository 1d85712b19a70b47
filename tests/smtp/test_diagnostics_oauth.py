"""The test email with OAuth2: the token step live (endpoint, scope, expiry, never the
token), the SASL mechanism, and a hint per provider refusal, in English and German.
Every refusal comes from a local faithful server: the OAuth2 test server answers as
Entra ID does (AADSTS numbers), the SMTP test server as Exchange Online and Google do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from smtp_support import PASSWORD, USER, settings_for

from tocsin.errors import Step
from tocsin.i18n import translate
from tocsin.secret import Secret
from tocsin.settings import AuthMethod, EmailSettings
from tocsin.testing import OAuthTestServer, SMTPTestServer, make_client_certificate
from tocsin.transports import StepStatus, diagnostics
from tocsin.transports.diagnostics import CheckStep, run_test_email

CLIENT, SECRET = "alarm-app", "app-secret-4711"
TO = "ops@example.net"


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer() as server:
        server.add_client(CLIENT, SECRET)
        yield server


def app_only(srv: SMTPTestServer, oauth: OAuthTestServer, **changes: object) -> EmailSettings:
    values: dict[str, object] = {
        "username": USER,
        "password": None,
        "auth_method": AuthMethod.OAUTH2,
        "oauth_client_id": CLIENT,
        "oauth_client_secret": Secret(SECRET),
        "oauth_tenant": oauth.tenant,
        "oauth_authority": oauth.base_url,
        **changes,
    }
    return settings_for(srv, **values)


def oauth_smtp(oauth: OAuthTestServer, **options: object) -> SMTPTestServer:
    return SMTPTestServer(
        ca=oauth.ca,
        tls="implicit",
        oauth=oauth,
        auth_mechanisms=("XOAUTH2", "OAUTHBEARER"),
        **options,  # type: ignore[arg-type]
    )


def done(report: diagnostics.TestEmailReport, step: Step) -> CheckStep:
    return next(s for s in report.steps if s.step is step and s.status is StepStatus.OK)


def failed(report: diagnostics.TestEmailReport) -> CheckStep:
    assert not report.ok, report.as_dict()
    failure = report.failure
    assert failure is not None
    return failure


async def test_the_oauth_steps_show_endpoint_scope_expiry_and_mechanism(
    oauth: OAuthTestServer,
) -> None:
    seen: list[CheckStep] = []
    async with oauth_smtp(oauth) as srv:
        settings = app_only(srv, oauth)
        first = await run_test_email(settings, TO, progress=seen.append)
        again = await run_test_email(settings, TO)
    assert first.ok, first.as_dict()
    assert again.ok, again.as_dict()
    order = [(s.step, s.status) for s in first.steps]
    at = order.index((Step.OAUTH, StepStatus.START))
    assert order[at + 1 : at + 4] == [
        (Step.OAUTH, StepStatus.OK),
        (Step.AUTH, StepStatus.START),
        (Step.AUTH, StepStatus.OK),
    ]
    start = first.steps[at]
    assert f"localhost:{oauth.port}" in start.summary
    assert start.waiting == translate("waiting_oauth", "en")
    token = done(first, Step.OAUTH)
    assert token.summary.startswith(f"token obtained from localhost:{oauth.port}")
    assert "scope https://outlook.office365.com/.default" in token.summary
    assert "expires in 60 min" in token.summary
    assert "OAUTHBEARER" in done(first, Step.AUTH).summary  # the standard one first
    assert done(again, Step.OAUTH).summary.startswith("token still valid")
    assert seen == first.steps
    text = repr(first.as_dict()) + repr(again.as_dict())
    assert oauth.issued_secrets
    assert not [s for s in [*oauth.issued_secrets, SECRET] if s in text]


@pytest.mark.parametrize(
    ("spoil", "hint"),
    [
        ("tenant", "wrong_tenant"),
        ("client", "wrong_client"),
        ("secret_expired", "secret_expired"),
        ("consent", "consent_missing"),
        ("secret", "secret_invalid"),
    ],
)
@pytest.mark.parametrize("language", ["en", "de"])
async def test_a_refused_token_names_the_fix(
    oauth: OAuthTestServer, spoil: str, hint: str, language: str
) -> None:
    changes: dict[str, object] = {}
    if spoil == "tenant":
        changes["oauth_tenant"] = "fabrikam-tenant"
    elif spoil == "client":
        changes["oauth_client_id"] = "no-such-app"
    elif spoil == "secret":
        changes["oauth_client_secret"] = Secret("not-the-secret")
    elif spoil == "secret_expired":
        oauth.expire_secret(CLIENT)
    else:
        oauth.withdraw_consent(CLIENT)
    async with oauth_smtp(oauth) as srv:
        report = await run_test_email(app_only(srv, oauth, **changes), TO, language=language)
    failure = failed(report)
    assert failure.step is Step.OAUTH
    assert failure.hint == translate(f"oauth_hint_{hint}", language)
    assert srv.bearer_attempts == []  # no token, so no AUTH was tried
    assert SECRET not in repr(report.as_dict())


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "Authenticated SMTP"), ("de", "Authentifiziertes SMTP")],
)
async def test_smtp_auth_disabled_for_the_mailbox_is_named(
    oauth: OAuthTestServer, language: str, words: str
) -> None:
    async with oauth_smtp(oauth, smtp_client_auth_disabled=True) as srv:
        report = await run_test_email(app_only(srv, oauth), TO, language=language)
    failure = failed(report)
    assert failure.step is Step.AUTH
    assert "5.7.139" in failure.summary
    assert "SmtpClientAuthentication" in failure.summary
    assert failure.hint == translate("hint_smtp_auth_disabled", language, user=USER)
    assert words in failure.hint
    assert USER in failure.hint
    assert srv.messages == []


@pytest.mark.parametrize("language", ["en", "de"])
async def test_a_sender_other_than_the_mailbox_is_send_as_denied(
    oauth: OAuthTestServer, language: str
) -> None:
    other = "facility@example.com"
    async with oauth_smtp(oauth, send_as_check=True) as srv:
        report = await run_test_email(
            app_only(srv, oauth, sender_address=other), TO, language=language
        )
        ok = await run_test_email(app_only(srv, oauth), TO, language=language)
    failure = failed(report)
    assert failure.step is Step.MAIL_FROM
    assert "5.7.60" in failure.summary
    assert failure.hint == translate("hint_send_as_denied", language, sender=other)
    assert "SendAsDenied" in failure.hint
    assert ok.ok  # the signed-in mailbox itself may send
    assert len(srv.messages) == 1


GOOGLE_REFUSAL = (
    "535 5.7.8 Username and Password not accepted. For more information, go to "
    "5.7.8 https://support.google.com/mail/?p=BadCredentials"
)


@pytest.mark.parametrize(("language", "words"), [("en", "app password"), ("de", "App-Passwort")])
async def test_google_refusing_the_password_points_to_oauth_or_an_app_password(
    ca: object, language: str, words: str
) -> None:
    server = SMTPTestServer(
        ca=ca,  # type: ignore[arg-type]
        tls="implicit",
        username=USER,
        password=PASSWORD,
        login_refusal=GOOGLE_REFUSAL,
    )
    async with server as srv:
        report = await run_test_email(
            settings_for(srv, password=Secret("the-account-password")), TO, language=language
        )
    failure = failed(report)
    assert failure.step is Step.AUTH
    assert "Username and Password not accepted" in failure.summary
    assert failure.hint == translate("hint_google_password_refused", language)
    assert words in failure.hint
    assert "OAuth2" in failure.hint


@pytest.mark.parametrize("language", ["en", "de"])
async def test_microsoft_refusing_passwords_points_to_oauth(ca: object, language: str) -> None:
    server = SMTPTestServer(
        ca=ca,  # type: ignore[arg-type]
        tls="implicit",
        username=USER,
        password=PASSWORD,
        basic_auth_disabled=True,
    )
    async with server as srv:
        report = await run_test_email(settings_for(srv), TO, language=language)  # right password
    failure = failed(report)
    assert failure.step is Step.AUTH
    assert "basic authentication is disabled" in failure.summary
    assert failure.hint == translate("hint_basic_auth_disabled", language)
    assert "OAuth2" in failure.hint


async def test_a_plain_wrong_password_keeps_the_general_hint(ca: object) -> None:
    async with SMTPTestServer(ca=ca, tls="implicit", username=USER, password=PASSWORD) as srv:  # type: ignore[arg-type]
        report = await run_test_email(settings_for(srv, password=Secret("wrong")), TO)
    assert failed(report).hint == translate("hint_auth_failed", "en")


@pytest.mark.parametrize("language", ["en", "de"])
async def test_a_certificate_not_registered_names_the_fix(
    oauth: OAuthTestServer, language: str
) -> None:
    registered, stored = make_client_certificate(), make_client_certificate()
    oauth.add_client("cert-app", certificate=registered.certificate_pem)
    changes = {
        "oauth_client_id": "cert-app",
        "oauth_client_secret": None,
        "oauth_client_certificate": Secret(stored.pem),
    }
    async with oauth_smtp(oauth) as srv:
        report = await run_test_email(app_only(srv, oauth, **changes), TO, language=language)
    failure = failed(report)
    assert failure.step is Step.OAUTH
    assert failure.hint == translate("oauth_hint_certificate_invalid", language)
    assert "AADSTS700027" in repr(report.as_dict())
    assert srv.bearer_attempts == []
    key_line = stored.pem.splitlines()[3]
    assert key_line not in repr(report.as_dict())
    oauth.add_certificate("cert-app", stored.certificate_pem)  # uploaded: now it works
    async with oauth_smtp(oauth) as srv:
        report = await run_test_email(app_only(srv, oauth, **changes), TO, language=language)
    assert report.ok, report.as_dict()
