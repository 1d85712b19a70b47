"""A backup link that signs in with OAuth2: a refresh token its provider rotates while
the link carries alarms (or is tested) is stored on that link, encrypted, not on the
primary and not lost; and the rotation does not make the chain think the primary is
back.  The real services, the real engine as ``tocsin serve`` builds it, the local
OAuth2 server (a new refresh token with every refresh) and an SMTP server that checks
the tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from outbox_support import all_done, enqueue, eventually, fast_options, running

from tocsin.failover import FailoverPolicy, FailoverSettings, effective_link
from tocsin.outbox import DeliveryEngine, Status, default_transport_factory
from tocsin.secret import Secret
from tocsin.services.context import Services
from tocsin.services.test_email import send_test_email
from tocsin.settings import AuthMethod, EmailSettings, Encryption, OAuthFlow
from tocsin.signin import finish_device_sign_in, start_device_sign_in
from tocsin.signin.providers import oauth_config
from tocsin.testing import OAuthTestServer, SMTPTestServer

PUBLIC = "public-app"
MAILBOX = "alarm@example.com"  # the backup link's mailbox
PRIMARY_MAILBOX = "site@example.com"
A = "ops@example.net"
POLICY = FailoverPolicy(after_failures=1, after_seconds=60, probe_interval=60)


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


async def signed_in(port: int, oauth: OAuthTestServer, mailbox: str) -> EmailSettings:
    """Settings for the SMTP server on ``port``, signed in (device code) as ``mailbox``."""
    base = EmailSettings(
        enabled=True,
        sender_address=MAILBOX,
        host="127.0.0.1",
        port=port,
        encryption=Encryption.SSL,
        username=mailbox,
        auth_method=AuthMethod.OAUTH2,
        oauth_flow=OAuthFlow.DEVICE_CODE,
        oauth_client_id=PUBLIC,
        oauth_tenant=oauth.tenant,
        oauth_authority=oauth.base_url,
        ca_file=str(oauth.ca.ca_path),
        timeout=2.0,
        deadline=4.0,
    )
    config = oauth_config(base)
    code = await start_device_sign_in(config)
    oauth.approve(code.user_code, mailbox)
    refresh = (await finish_device_sign_in(config, code)).refresh_token
    return replace(base, oauth_refresh_token=refresh)


def smtp(oauth: OAuthTestServer) -> SMTPTestServer:
    return SMTPTestServer(tls="implicit", ca=oauth.ca, oauth=oauth, auth_mechanisms=("XOAUTH2",))


async def closed_port() -> int:
    async with SMTPTestServer() as gone:
        return gone.port  # stopped on return: connections to it are refused


async def chain_of(
    services: Services, oauth: OAuthTestServer, backup_port: int
) -> tuple[EmailSettings, EmailSettings]:
    """A primary (its own sign-in) whose server is gone, and the OAuth backup link."""
    primary = await signed_in(await closed_port(), oauth, PRIMARY_MAILBOX)
    link = await signed_in(backup_port, oauth, MAILBOX)
    services.settings.save(primary)
    services.failover.save(FailoverSettings(enabled=True, links=(link,), policy=POLICY))
    return primary, link


def on_disk(services: Services) -> bytes:
    return b"".join(p.read_bytes() for p in services.data.iterdir() if p.is_file())


async def test_alarms_through_an_oauth_backup_link_keep_its_rotated_token_on_the_link(
    services: Services, oauth: OAuthTestServer
) -> None:
    async with smtp(oauth) as srv:
        primary, link = await chain_of(services, oauth, srv.port)
        notices: list[bool] = []
        engine = DeliveryEngine(  # wired as tocsin serve and tocsin worker wire it
            services.store,
            services.settings.load,
            settings_version=services.failover.fingerprint,
            failover_source=services.failover.load,
            on_failover=lambda down, _why: notices.append(down),
            options=fast_options(),
            transport_factory=default_transport_factory(
                2, refresh_keeper=services.failover.refresh_token_keeper
            ),
        )
        async with running(engine):
            enqueue(services.store, A, subject="Fire: hall 1")
            await eventually(lambda: all_done(services.store), what="the first alarm")
            # The rotated token is stored: the chain changed, but not its health.
            enqueue(services.store, A, subject="Fire: hall 2")
            await eventually(lambda: all_done(services.store), what="the second alarm")
    assert len(srv.messages) == 2
    rows = services.outbox.list(statuses=[Status.SENT])
    assert sorted(row.link for row in rows) == ["backup-1", "backup-1"]
    assert notices == [True]  # fell back once; the rotation did not "bring back" the primary
    (stored,) = services.failover.load().links
    assert stored.oauth_refresh_token is not None
    assert stored.oauth_refresh_token != link.oauth_refresh_token  # rotated and kept
    assert stored.oauth_refresh_token.reveal() in oauth.issued_secrets
    assert services.settings.load().oauth_refresh_token == primary.oauth_refresh_token
    assert stored.oauth_refresh_token.reveal().encode() not in on_disk(services)


async def test_the_test_email_through_an_oauth_backup_link_keeps_the_token_on_the_link(
    services: Services, oauth: OAuthTestServer
) -> None:
    async with smtp(oauth) as srv:
        primary, link = await chain_of(services, oauth, srv.port)
        report = await send_test_email(services, A, link=1)
    assert report.ok, report.as_dict()
    assert len(srv.messages) == 1
    (stored,) = services.failover.load().links
    assert stored.oauth_refresh_token not in (None, link.oauth_refresh_token)
    assert services.settings.load().oauth_refresh_token == primary.oauth_refresh_token


async def test_a_new_sign_in_of_the_link_meanwhile_is_not_overwritten(
    services: Services, oauth: OAuthTestServer
) -> None:
    primary, link = await chain_of(services, oauth, await closed_port())
    keep = services.failover.refresh_token_keeper(effective_link(primary, link))
    again = replace(link, oauth_refresh_token=Secret("signed-in-again-token"))
    services.failover.save(FailoverSettings(enabled=True, links=(again,), policy=POLICY))
    keep(Secret("rotated-from-the-old-sign-in"))
    (stored,) = services.failover.load().links
    assert stored.oauth_refresh_token == Secret("signed-in-again-token")
    assert services.settings.load().oauth_refresh_token == primary.oauth_refresh_token


async def test_one_sign_in_used_by_primary_and_link_is_rotated_in_both_places(
    services: Services, oauth: OAuthTestServer
) -> None:
    primary, link = await chain_of(services, oauth, await closed_port())
    shared = replace(link, oauth_refresh_token=primary.oauth_refresh_token)
    services.failover.save(FailoverSettings(enabled=True, links=(shared,), policy=POLICY))
    keep = services.failover.refresh_token_keeper(effective_link(primary, shared))
    keep(Secret("rotated-once"))
    # The old token may stop working at the provider: both places take the new one.
    assert services.settings.load().oauth_refresh_token == Secret("rotated-once")
    assert services.failover.load().links[0].oauth_refresh_token == Secret("rotated-once")
