"""Sign-in against the local OAuth2 server (nothing patched): tokens, refresh, device code,
refusals classified, and the SMTP login the session will call."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator

import aiosmtplib
import httpx
import pytest

from tocsin.errors import (
    AuthFailed,
    ConfigurationProblem,
    ConnectFailed,
    SignInFailed,
    SignInRefused,
)
from tocsin.secret import Secret
from tocsin.settings import AuthMethod, EmailSettings
from tocsin.signin import (
    BearerLogin,
    Flow,
    OAuthConfig,
    ProviderKind,
    TokenManager,
    finish_device_sign_in,
    login_for,
    start_device_sign_in,
)
from tocsin.signin.sasl import Mechanism
from tocsin.testing import OAuthTestServer, SMTPTestServer, closed_port

CLIENT, SECRET = "app-1", "app-secret-1"
PUBLIC = "public-app"
MAILBOX = "alarms@contoso.test"


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(interval=0.05, slow_down_step=0.1) as server:
        server.add_client(CLIENT, SECRET)
        server.add_client(PUBLIC)
        yield server


def app_only(server: OAuthTestServer, **changes: object) -> OAuthConfig:
    values: dict[str, object] = {
        "provider": ProviderKind.MICROSOFT,
        "flow": Flow.APP_ONLY,
        "client_id": CLIENT,
        "client_secret": Secret(SECRET),
        "tenant": server.tenant,
        "authority": server.base_url,
        "ca_file": str(server.ca.ca_path),
        "timeout": 5.0,
    }
    values.update(changes)
    return OAuthConfig(**values)  # type: ignore[arg-type]


def delegated(server: OAuthTestServer, refresh: Secret | None = None) -> OAuthConfig:
    return app_only(
        server, flow=Flow.DEVICE_CODE, client_id=PUBLIC, client_secret=None, refresh_token=refresh
    )


async def test_microsoft_endpoints_and_scope_by_default() -> None:
    config = OAuthConfig(
        provider=ProviderKind.MICROSOFT, flow=Flow.APP_ONLY, client_id="c", tenant="t-1"
    )
    assert config.token_endpoint == "https://login.microsoftonline.com/t-1/oauth2/v2.0/token"
    assert config.scopes == "https://outlook.office365.com/.default"
    assert "<secret>" in repr(app_only_secret())


def app_only_secret() -> OAuthConfig:
    return OAuthConfig(
        provider=ProviderKind.GENERIC,
        flow=Flow.APP_ONLY,
        client_id="c",
        client_secret=Secret("very-secret-value"),
    )


async def test_client_credentials_token_is_obtained_and_shared(oauth: OAuthTestServer) -> None:
    tokens = TokenManager(app_only(oauth))
    first, second = await asyncio.gather(tokens.token(), tokens.token())
    assert first is second
    assert tokens.fetches == 1
    assert oauth.check(first.value.reveal(), MAILBOX)
    assert first.scope == "https://outlook.office365.com/.default"
    assert [(r.grant_type, r.outcome) for r in oauth.token_requests] == [
        ("client_credentials", "ok")
    ]


async def test_token_is_refreshed_before_it_expires(oauth: OAuthTestServer) -> None:
    oauth.token_lifetime = 1.5
    tokens = TokenManager(app_only(oauth), margin=1.0)
    first = await tokens.token()
    assert await tokens.token() is first
    await asyncio.sleep(0.6)  # inside the margin, still valid at the server
    assert oauth.check(first.value.reveal())
    second = await tokens.token()
    assert second is not first
    assert tokens.fetches == 2
    assert oauth.check(second.value.reveal())


@pytest.mark.parametrize(
    ("change", "hint"),
    [
        ({"tenant": "wrong-tenant"}, "wrong_tenant"),
        ({"client_id": "nobody"}, "wrong_client"),
        ({"client_secret": Secret("wrong")}, "secret_invalid"),
    ],
)
async def test_refusals_are_configuration_problems_with_a_hint(
    oauth: OAuthTestServer, change: dict[str, object], hint: str
) -> None:
    with pytest.raises(SignInRefused) as caught:
        await TokenManager(app_only(oauth, **change)).token()
    assert isinstance(caught.value, ConfigurationProblem)
    assert caught.value.hint == hint
    assert SECRET not in str(caught.value)
    assert "wrong" not in caught.value.server_message


async def test_a_disabled_client_is_a_configuration_problem(oauth: OAuthTestServer) -> None:
    oauth.disable_client(CLIENT)
    with pytest.raises(SignInRefused) as caught:
        await TokenManager(app_only(oauth)).token()
    assert caught.value.hint == "client_disabled"


async def test_an_unreachable_endpoint_is_temporary(oauth: OAuthTestServer) -> None:
    with closed_port() as port:
        config = app_only(oauth, authority=f"https://localhost:{port}")
        with pytest.raises(ConnectFailed) as caught:
            await TokenManager(config).token()
    assert caught.value.temporary


# ---------------------------------------------------------------- device code sign-in


async def test_device_flow_pending_slow_down_then_approved(oauth: OAuthTestServer) -> None:
    config = delegated(oauth)
    code = await start_device_sign_in(config)
    assert code.verification_uri == oauth.verification_url
    assert code.user_code
    assert code.device_code.reveal() not in repr(code)
    oauth.script_device(code.user_code, "slow_down")
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:  # the user signs in on the verification page
            async with httpx.AsyncClient(verify=oauth.ca.client_context()) as browser:
                page = await browser.post(
                    oauth.verification_url, data={"user_code": code.user_code, "user": MAILBOX}
                )
            assert page.json() == {"decision": "approved"}
        await asyncio.sleep(seconds)

    signed = await finish_device_sign_in(config, code, sleep=sleep, slow_down_step=0.1)
    # pending ... slow_down (+0.1 s) ... pending ... approved
    assert waits == pytest.approx([0.05, 0.15, 0.15])
    outcomes = [r.outcome for r in oauth.token_requests]
    assert outcomes == ["slow_down", "authorization_pending", "ok"]
    assert oauth.check(signed.access.value.reveal(), MAILBOX)
    # The refresh token stored gets tokens from now on.
    tokens = TokenManager(delegated(oauth, signed.refresh_token))
    assert oauth.check((await tokens.token()).value.reveal(), MAILBOX)


async def test_device_flow_denied_and_expired() -> None:
    # The refusal on a server whose codes live long (with 0.4 s, a loaded machine's
    # first poll came after the code's end: "expired" before the refusal was seen).
    with OAuthTestServer(interval=0.05, device_lifetime=30) as server:
        server.add_client(PUBLIC)
        config = delegated(server)
        code = await start_device_sign_in(config)
        server.deny(code.user_code)
        with pytest.raises(SignInFailed) as denied:
            await finish_device_sign_in(config, code)
        assert denied.value.code == "denied"
    with OAuthTestServer(interval=0.05, device_lifetime=0.4) as server:
        server.add_client(PUBLIC)
        config = delegated(server)
        code = await start_device_sign_in(config)
        with pytest.raises(SignInFailed) as expired:
            await finish_device_sign_in(config, code)
        assert expired.value.code == "expired"


async def test_device_flow_for_an_unknown_client_is_refused(oauth: OAuthTestServer) -> None:
    with pytest.raises(SignInFailed) as caught:
        await start_device_sign_in(app_only(oauth, client_id="nobody", flow=Flow.DEVICE_CODE))
    assert (caught.value.code, caught.value.hint) == ("refused", "wrong_client")


async def signed_in(oauth: OAuthTestServer) -> Secret:
    code = await start_device_sign_in(delegated(oauth))
    oauth.approve(code.user_code, MAILBOX)
    return (await finish_device_sign_in(delegated(oauth), code)).refresh_token


async def test_a_revoked_refresh_token_is_a_configuration_problem(oauth: OAuthTestServer) -> None:
    refresh = await signed_in(oauth)
    oauth.revoke_user(MAILBOX)
    with pytest.raises(SignInRefused) as caught:
        await TokenManager(delegated(oauth, refresh)).token()
    assert caught.value.hint == "grant_revoked"
    assert "AADSTS50173" in str(caught.value)
    assert refresh.reveal() not in str(caught.value)


async def test_a_rotated_refresh_token_is_handed_over(oauth: OAuthTestServer) -> None:
    refresh = await signed_in(oauth)
    stored: list[Secret] = []
    tokens = TokenManager(delegated(oauth, refresh), on_refresh_token=stored.append)
    await tokens.token()
    assert len(stored) == 1
    assert stored[0] != refresh


# ---------------------------------------------------------------- the SMTP login


async def smtp_login(srv: SMTPTestServer, login: BearerLogin) -> aiosmtplib.SMTPResponse:
    """What the SMTP session will do next session, spelled out on aiosmtplib's wire."""
    smtp = aiosmtplib.SMTP(
        hostname=srv.host, port=srv.port, use_tls=True, tls_context=srv.ca.client_context()
    )
    async with smtp:
        await smtp.ehlo()
        mechanism = login.mechanism(smtp.server_auth_methods)
        while True:
            text = await login.initial_response(mechanism, host=srv.host, port=srv.port)
            reply = await smtp.execute_command(f"AUTH {mechanism.value} {text}".encode())
            if reply.code == 334:
                reply = await smtp.execute_command(login.abort_response(mechanism).encode())
            if reply.code == 235:
                return reply
            if not await login.rejected(reply.code, reply.message):
                raise login.failure(reply.code, reply.message)


@pytest.mark.parametrize("mechanisms", [("XOAUTH2",), ("OAUTHBEARER", "XOAUTH2")])
async def test_login_refreshes_once_on_535_and_retries(
    oauth: OAuthTestServer, mechanisms: tuple[str, ...]
) -> None:
    tokens = TokenManager(delegated(oauth, await signed_in(oauth)))
    server = SMTPTestServer(tls="implicit", oauth=oauth, auth_mechanisms=mechanisms)
    async with server as srv:
        assert (await smtp_login(srv, BearerLogin(tokens, user=MAILBOX))).code == 235
        oauth.expire_access_tokens()  # the server no longer takes the cached token
        assert (await smtp_login(srv, BearerLogin(tokens, user=MAILBOX))).code == 235
    assert [ok for _, _, ok in srv.bearer_attempts] == [True, False, True]
    assert {m for m, _, _ in srv.bearer_attempts} == {mechanisms[0]}
    assert tokens.fetches == 2


async def test_login_with_a_revoked_grant_pauses(oauth: OAuthTestServer) -> None:
    tokens = TokenManager(delegated(oauth, await signed_in(oauth)))
    async with SMTPTestServer(tls="implicit", oauth=oauth, auth_mechanisms=("XOAUTH2",)) as srv:
        await smtp_login(srv, BearerLogin(tokens, user=MAILBOX))
        oauth.revoke_user(MAILBOX, access_tokens=True)
        with pytest.raises(SignInRefused) as caught:
            await smtp_login(srv, BearerLogin(tokens, user=MAILBOX))
    assert caught.value.hint == "grant_revoked"


async def test_a_token_refused_twice_is_auth_failed(oauth: OAuthTestServer) -> None:
    # Signed in as one mailbox, logging in as another: every fresh token is refused too.
    tokens = TokenManager(delegated(oauth, await signed_in(oauth)))
    server = SMTPTestServer(tls="implicit", oauth=oauth, auth_mechanisms=("OAUTHBEARER",))
    async with server as srv:
        with pytest.raises(AuthFailed) as caught:
            await smtp_login(srv, BearerLogin(tokens, user="boss@contoso.test"))
    assert caught.value.code == 535
    assert [ok for _, _, ok in srv.bearer_attempts] == [False, False]
    assert tokens.fetches == 2  # refreshed once, not again


async def test_no_oauth_mechanism_offered_is_named(oauth: OAuthTestServer) -> None:
    login = BearerLogin(TokenManager(app_only(oauth)), user=MAILBOX)
    with pytest.raises(AuthFailed) as caught:
        login.mechanism(["PLAIN", "LOGIN"])
    assert "PLAIN LOGIN" in str(caught.value)
    assert base64.b64decode(login.abort_response(login.mechanism(["OAUTHBEARER"]))) == b"\x01"


# ---------------------------------------------------------------- one token per process


def settings_for(oauth: OAuthTestServer, **changes: object) -> EmailSettings:
    values: dict[str, object] = {
        "username": MAILBOX,
        "auth_method": AuthMethod.OAUTH2,
        "oauth_client_id": CLIENT,
        "oauth_client_secret": Secret(SECRET),
        "oauth_tenant": oauth.tenant,
        "oauth_authority": oauth.base_url,
        "ca_file": str(oauth.ca.ca_path),
    }
    values.update(changes)
    return EmailSettings(**values)  # type: ignore[arg-type]


async def test_sessions_share_one_token_per_sign_in(
    oauth: OAuthTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert login_for(EmailSettings()) is None  # password settings: no OAuth login
    first, second = login_for(settings_for(oauth)), login_for(settings_for(oauth))
    assert first is not None
    assert second is not None
    async with SMTPTestServer(tls="implicit", oauth=oauth, auth_mechanisms=("XOAUTH2",)) as srv:
        assert (await smtp_login(srv, first)).code == 235
        assert (await smtp_login(srv, second)).code == 235
    assert [r.outcome for r in oauth.token_requests] == ["ok"]  # one token for both
    # A changed secret is another sign-in: a token of its own.
    oauth.set_secret(CLIENT, "rotated-secret")
    third = login_for(settings_for(oauth, oauth_client_secret=Secret("rotated-secret")))
    assert third is not None
    await third.initial_response(Mechanism.XOAUTH2, host="localhost", port=25)
    assert len(oauth.token_requests) == 2
    logged = caplog.text
    assert "OAuth2 token obtained" in logged
    assert not [s for s in oauth.issued_secrets if s in logged]
    assert SECRET not in logged


async def test_a_generic_token_endpoint(oauth: OAuthTestServer) -> None:
    config = OAuthConfig(
        provider=ProviderKind.GENERIC,
        flow=Flow.APP_ONLY,
        client_id=CLIENT,
        client_secret=Secret(SECRET),
        token_url=oauth.token_url,
        scope="smtp",
        ca_file=str(oauth.ca.ca_path),
    )
    token = await TokenManager(config).token()
    assert token.scope == "smtp"
    assert oauth.check(token.value.reveal())
