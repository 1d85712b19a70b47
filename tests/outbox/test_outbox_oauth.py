"""A revoked OAuth2 sign-in pauses the outbox (one notice, no attempts spent) and a new
sign-in resumes it: the real engine, the local OAuth2 server and an SMTP test server
that checks the tokens.  The transport here does the AUTH through ``login_for`` the way
the SMTP session will (next step of issue 10); everything else is the shipped code."""

from __future__ import annotations

from dataclasses import replace

import aiosmtplib
from outbox_support import all_done, enqueue, eventually, fast_options, running

from tocsin.errors import ConfigurationProblem, SignInRefused
from tocsin.message import Mail
from tocsin.outbox import DeliveryEngine, DeliveryView, Status
from tocsin.secret import Secret
from tocsin.settings import AuthMethod, EmailSettings, Encryption, OAuthFlow
from tocsin.signin import finish_device_sign_in, login_for, start_device_sign_in
from tocsin.signin.providers import oauth_config
from tocsin.store import Store
from tocsin.testing import OAuthTestServer, SMTPTestServer
from tocsin.transports.base import (
    DeliveryResult,
    MockTransport,
    Outcome,
    RecipientResult,
    Transport,
)

PUBLIC = "public-app"
MAILBOX = "alarm@example.com"  # the outbox tests' sender
A = "ops@example.net"


async def sign_in(settings: EmailSettings, oauth: OAuthTestServer) -> Secret:
    config = oauth_config(settings)
    code = await start_device_sign_in(config)
    oauth.approve(code.user_code, MAILBOX)
    return (await finish_device_sign_in(config, code)).refresh_token


def bearer_transport(srv: SMTPTestServer) -> object:
    def factory(settings: EmailSettings) -> Transport:
        async def send(mail: Mail) -> DeliveryResult:
            login = login_for(settings)
            assert login is not None
            smtp = aiosmtplib.SMTP(
                hostname=srv.host, port=srv.port, use_tls=True, tls_context=srv.ca.client_context()
            )
            async with smtp:
                await smtp.ehlo()
                mechanism = login.mechanism(smtp.server_auth_methods)
                text = await login.initial_response(mechanism, host=srv.host, port=srv.port)
                reply = await smtp.execute_command(f"AUTH {mechanism.value} {text}".encode())
                assert reply.code == 235
                await smtp.sendmail(mail.sender, list(mail.recipients), mail.content)
            return DeliveryResult(
                tuple(RecipientResult(r, Outcome.ACCEPTED) for r in mail.recipients), "250 OK"
            )

        return MockTransport(send)

    return factory


def held_delivery(store: Store, email_id: int) -> DeliveryView:
    view = store.get_email(email_id)
    assert view is not None
    (delivery,) = view.deliveries
    return delivery


async def test_a_revoked_sign_in_pauses_once_and_a_new_one_resumes(sqlite_store: Store) -> None:
    with OAuthTestServer(interval=0.05) as oauth:
        oauth.add_client(PUBLIC)
        base = EmailSettings(
            enabled=True,
            sender_address=MAILBOX,
            host="localhost",
            encryption=Encryption.SSL,
            username=MAILBOX,
            auth_method=AuthMethod.OAUTH2,
            oauth_flow=OAuthFlow.DEVICE_CODE,
            oauth_client_id=PUBLIC,
            oauth_tenant=oauth.tenant,
            oauth_authority=oauth.base_url,
            ca_file=str(oauth.ca.ca_path),
        )
        first = replace(base, oauth_refresh_token=await sign_in(base, oauth))
        oauth.revoke_user(MAILBOX, access_tokens=True)  # consent withdrawn by an admin
        settings = {"now": first}
        paused: list[ConfigurationProblem] = []
        server = SMTPTestServer(
            tls="implicit", ca=oauth.ca, oauth=oauth, auth_mechanisms=("XOAUTH2",)
        )
        async with server as srv:
            engine = DeliveryEngine(
                sqlite_store,
                lambda: settings["now"],
                options=fast_options(),
                transport_factory=bearer_transport(srv),  # type: ignore[arg-type]
                on_pause=paused.append,
            )
            email = enqueue(sqlite_store, A)
            async with running(engine):
                await eventually(
                    lambda: engine.paused and engine.paused.reason == "oauth_refused",
                    what="the pause",
                )
                held = await eventually(
                    lambda: (d := held_delivery(sqlite_store, email)).last_reason and d,
                    what="the held delivery recorded",
                )
                assert (held.status, held.attempts, held.last_reason) == (
                    Status.QUEUED,
                    0,
                    "oauth_refused",
                )
                # A new sign-in, saved in the settings: delivery resumes at once.
                settings["now"] = replace(base, oauth_refresh_token=await sign_in(base, oauth))
                await eventually(lambda: all_done(sqlite_store), what="resumed delivery")
        assert [type(p) for p in paused] == [SignInRefused]
        assert "sign in again" in str(paused[0])
        assert [m.rcpt_tos for m in srv.messages] == [(A,)]
        assert srv.messages[0].login == MAILBOX
