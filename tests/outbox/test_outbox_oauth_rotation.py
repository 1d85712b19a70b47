"""A refresh token the provider rotates is stored, encrypted, at once: by the delivery
engine's transport and by the test email alike.  The real services (settings encrypted
in the SQLite file), the real engine, the local OAuth2 server (which hands out a new
refresh token with every refresh) and an SMTP test server that checks the tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from outbox_support import all_done, enqueue, eventually, fast_options, running

from tocsin.outbox import DeliveryEngine, default_transport_factory
from tocsin.secret import Secret
from tocsin.services.context import Services
from tocsin.services.test_email import send_test_email
from tocsin.settings import AuthMethod, EmailSettings, Encryption, OAuthFlow
from tocsin.signin import finish_device_sign_in, start_device_sign_in
from tocsin.signin.providers import oauth_config
from tocsin.testing import OAuthTestServer, SMTPTestServer

PUBLIC = "public-app"
MAILBOX = "alarm@example.com"
A = "ops@example.net"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    opened = Services.open(tmp_path / "data")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(interval=0.05) as server:
        server.add_client(PUBLIC)
        yield server


async def signed_in(srv: SMTPTestServer, oauth: OAuthTestServer) -> EmailSettings:
    base = EmailSettings(
        enabled=True,
        sender_address=MAILBOX,
        host=srv.host,
        port=srv.port,
        encryption=Encryption.SSL,
        username=MAILBOX,
        auth_method=AuthMethod.OAUTH2,
        oauth_flow=OAuthFlow.DEVICE_CODE,
        oauth_client_id=PUBLIC,
        oauth_tenant=oauth.tenant,
        oauth_authority=oauth.base_url,
        ca_file=str(oauth.ca.ca_path),
    )
    config = oauth_config(base)
    code = await start_device_sign_in(config)
    oauth.approve(code.user_code, MAILBOX)
    refresh = (await finish_device_sign_in(config, code)).refresh_token
    return replace(base, oauth_refresh_token=refresh)


def smtp(oauth: OAuthTestServer) -> SMTPTestServer:
    return SMTPTestServer(tls="implicit", ca=oauth.ca, oauth=oauth, auth_mechanisms=("XOAUTH2",))


def on_disk(services: Services) -> bytes:
    return b"".join(p.read_bytes() for p in services.data.iterdir() if p.is_file())


def refreshes(oauth: OAuthTestServer) -> int:
    return sum(r.grant_type == "refresh_token" for r in oauth.token_requests)


async def test_the_engine_stores_a_rotated_refresh_token_encrypted(
    services: Services, oauth: OAuthTestServer
) -> None:
    async with smtp(oauth) as srv:
        settings = await signed_in(srv, oauth)
        first = settings.oauth_refresh_token
        assert first is not None
        services.settings.save(settings)
        engine = DeliveryEngine(
            services.store,
            services.settings.load,
            settings_version=services.settings.fingerprint,
            options=fast_options(),
            transport_factory=default_transport_factory(
                2, refresh_keeper=services.settings.refresh_token_keeper
            ),
        )
        enqueue(services.store, A)
        async with running(engine):
            await eventually(lambda: all_done(services.store), what="the delivery")
    assert len(srv.messages) == 1
    assert refreshes(oauth) == 1  # the token was fetched with the stored refresh token
    stored = services.settings.load().oauth_refresh_token
    assert stored is not None
    assert stored != first  # the provider rotated it, and the rotated one was kept
    assert stored.reveal() in oauth.issued_secrets
    disk = on_disk(services)
    assert stored.reveal().encode() not in disk
    assert first.reveal().encode() not in disk


async def test_the_test_email_stores_a_rotated_refresh_token(
    services: Services, oauth: OAuthTestServer
) -> None:
    async with smtp(oauth) as srv:
        settings = await signed_in(srv, oauth)
        services.settings.save(settings)
        report = await send_test_email(services, A)
    assert report.ok, report.as_dict()
    stored = services.settings.load().oauth_refresh_token
    assert stored is not None
    assert stored != settings.oauth_refresh_token
    assert stored.reveal() in oauth.issued_secrets
    assert stored.reveal().encode() not in on_disk(services)


async def test_a_new_sign_in_meanwhile_is_not_overwritten(
    services: Services, oauth: OAuthTestServer
) -> None:
    async with smtp(oauth) as srv:
        settings = await signed_in(srv, oauth)
        services.settings.save(settings)
        keep = services.settings.refresh_token_keeper(settings)
        newer = replace(settings, oauth_refresh_token=Secret("signed-in-again-token"))
        services.settings.save(newer)  # the admin signed in again meanwhile
        keep(Secret("rotated-from-the-old-sign-in"))
    assert services.settings.load().oauth_refresh_token == Secret("signed-in-again-token")
