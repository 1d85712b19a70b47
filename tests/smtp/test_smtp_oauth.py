"""The SMTP transport logs in with an OAuth2 token (XOAUTH2 / OAUTHBEARER, RFC 7628):
the local OAuth2 server issues the tokens and the aiosmtpd test server checks them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from smtp_support import USER, settings_for

from tocsin.errors import AuthFailed, Reason, SignInRefused, Step, TLSRequired
from tocsin.message import Mail, compose
from tocsin.secret import Secret
from tocsin.settings import AuthMethod, EmailSettings
from tocsin.testing import OAuthTestServer, SMTPTestServer, make_client_certificate
from tocsin.transports import DeliveryResult, SMTPTransport

CLIENT, SECRET = "alarm-app", "app-secret-4711"


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer() as server:
        server.add_client(CLIENT, SECRET)
        yield server


def alarm() -> Mail:
    return compose(sender=USER, to=["ops@example.net"], subject="Fire", text="Smoke.")


def app_only(srv: SMTPTestServer, oauth: OAuthTestServer, **changes: object) -> EmailSettings:
    """Microsoft 365 app-only settings (client credentials) that reach ``srv``."""
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


async def send(settings: EmailSettings) -> DeliveryResult:
    transport = SMTPTransport(settings)
    try:
        return await transport.send(alarm())
    finally:
        await transport.aclose()


@pytest.mark.parametrize(
    ("tls", "offered", "used"),
    [
        ("starttls", ("OAUTHBEARER", "XOAUTH2"), "OAUTHBEARER"),
        ("implicit", ("XOAUTH2",), "XOAUTH2"),
    ],
)
async def test_an_app_only_token_logs_in_and_the_mail_goes_out(
    oauth: OAuthTestServer, tls: str, offered: tuple[str, ...], used: str
) -> None:
    server = SMTPTestServer(ca=oauth.ca, tls=tls, oauth=oauth, auth_mechanisms=offered)  # type: ignore[arg-type]
    async with server as srv:
        result = await send(app_only(srv, oauth))
    assert result.all_accepted
    (got,) = srv.messages
    assert (got.login, got.tls) == (USER, True)
    assert [(mechanism, ok) for mechanism, _, ok in srv.bearer_attempts] == [(used, True)]


async def test_a_token_the_server_refuses_is_refreshed_once_and_the_mail_goes_out(
    oauth: OAuthTestServer,
) -> None:
    server = SMTPTestServer(ca=oauth.ca, tls="implicit", oauth=oauth, auth_mechanisms=("XOAUTH2",))
    async with server as srv:
        settings = app_only(srv, oauth)
        await send(settings)
        oauth.expire_access_tokens()  # the process still holds the token: the server refuses it
        result = await send(settings)
    assert result.all_accepted
    assert [ok for _, _, ok in srv.bearer_attempts] == [True, False, True]
    assert len(srv.messages) == 2


async def test_a_token_is_never_sent_unencrypted(oauth: OAuthTestServer) -> None:
    server = SMTPTestServer(ca=oauth.ca, tls="none", oauth=oauth, auth_mechanisms=("XOAUTH2",))
    async with server as srv:
        with pytest.raises(TLSRequired) as caught:
            await send(app_only(srv, oauth, allow_plaintext_auth=False))
    assert caught.value.step is Step.AUTH
    assert srv.bearer_attempts == []
    assert srv.messages == []


async def test_a_server_without_oauth_logins_is_named(oauth: OAuthTestServer) -> None:
    server = SMTPTestServer(ca=oauth.ca, tls="implicit", username=USER, password="pw-4711-secret")
    async with server as srv:
        with pytest.raises(AuthFailed) as caught:
            await send(app_only(srv, oauth))
    assert caught.value.reason is Reason.AUTH_UNAVAILABLE
    assert "XOAUTH2" in str(caught.value)
    assert srv.messages == []


async def test_auth_method_none_logs_in_with_nothing_even_with_a_username(ca: object) -> None:
    async with SMTPTestServer(ca=ca, tls="implicit") as srv:  # type: ignore[arg-type]
        settings = settings_for(srv, username=USER, auth_method=AuthMethod.NONE)
        result = await send(settings)
    assert result.all_accepted
    assert srv.messages[0].login is None


async def test_an_app_only_certificate_logs_in_with_xoauth2_and_the_mail_goes_out() -> None:
    pair = make_client_certificate()
    with OAuthTestServer() as oauth:
        oauth.add_client("cert-app", certificate=pair.certificate_pem)
        server = SMTPTestServer(
            ca=oauth.ca, tls="implicit", oauth=oauth, auth_mechanisms=("XOAUTH2",)
        )  # type: ignore[arg-type]
        async with server as srv:
            settings = app_only(
                srv,
                oauth,
                oauth_client_id="cert-app",
                oauth_client_secret=None,
                oauth_client_certificate=Secret(pair.pem),
            )
            result = await send(settings)
    assert result.all_accepted
    (got,) = srv.messages
    assert got.login == USER
    assert [(mechanism, ok) for mechanism, _, ok in srv.bearer_attempts] == [("XOAUTH2", True)]
    assert oauth.assertions_accepted == 1


async def test_a_wrong_certificate_stops_before_auth_and_names_the_fix() -> None:
    pair, other = make_client_certificate(), make_client_certificate()
    with OAuthTestServer() as oauth:
        oauth.add_client("cert-app", certificate=pair.certificate_pem)
        server = SMTPTestServer(
            ca=oauth.ca, tls="implicit", oauth=oauth, auth_mechanisms=("XOAUTH2",)
        )  # type: ignore[arg-type]
        async with server as srv:
            settings = app_only(
                srv,
                oauth,
                oauth_client_id="cert-app",
                oauth_client_secret=None,
                oauth_client_certificate=Secret(other.pem),
            )
            with pytest.raises(SignInRefused) as caught:
                await send(settings)
    assert caught.value.hint == "certificate_invalid"
    assert srv.messages == []
    assert srv.bearer_attempts == []
