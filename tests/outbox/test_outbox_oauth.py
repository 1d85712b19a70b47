"""A revoked OAuth2 sign-in pauses the outbox (one notice, no attempts spent) and a new
sign-in resumes it: the real engine, the local OAuth2 server and an SMTP test server
that checks the tokens, over the shipped SMTP transport (its session logs in with the
token, XOAUTH2 here), nothing stood in."""

from __future__ import annotations

from dataclasses import replace

from outbox_support import all_done, enqueue, eventually, fast_options, running

from tocsin.errors import ConfigurationProblem, SignInRefused
from tocsin.outbox import DeliveryEngine, DeliveryView, Status
from tocsin.secret import Secret
from tocsin.settings import AuthMethod, EmailSettings, Encryption, OAuthFlow
from tocsin.signin import finish_device_sign_in, start_device_sign_in
from tocsin.signin.providers import oauth_config
from tocsin.store import Store
from tocsin.testing import OAuthTestServer, SMTPTestServer

PUBLIC = "public-app"
MAILBOX = "alarm@example.com"  # the outbox tests' sender
A = "ops@example.net"


async def sign_in(settings: EmailSettings, oauth: OAuthTestServer) -> Secret:
    config = oauth_config(settings)
    code = await start_device_sign_in(config)
    oauth.approve(code.user_code, MAILBOX)
    return (await finish_device_sign_in(config, code)).refresh_token


def held_delivery(store: Store, email_id: int) -> DeliveryView:
    view = store.get_email(email_id)
    assert view is not None
    (delivery,) = view.deliveries
    return delivery


async def test_a_revoked_sign_in_pauses_once_and_a_new_one_resumes(sqlite_store: Store) -> None:
    with OAuthTestServer(interval=0.05) as oauth:
        oauth.add_client(PUBLIC)
        server = SMTPTestServer(
            tls="implicit", ca=oauth.ca, oauth=oauth, auth_mechanisms=("XOAUTH2",)
        )
        async with server as srv:
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
            first = replace(base, oauth_refresh_token=await sign_in(base, oauth))
            oauth.revoke_user(MAILBOX, access_tokens=True)  # consent withdrawn by an admin
            settings = {"now": first}
            paused: list[ConfigurationProblem] = []
            engine = DeliveryEngine(
                sqlite_store,
                lambda: settings["now"],
                options=fast_options(),
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
                assert srv.messages == []
                # A new sign-in, saved in the settings: delivery resumes at once.
                settings["now"] = replace(base, oauth_refresh_token=await sign_in(base, oauth))
                await eventually(lambda: all_done(sqlite_store), what="resumed delivery")
        assert [type(p) for p in paused] == [SignInRefused]
        assert "sign in again" in str(paused[0])
        assert [m.rcpt_tos for m in srv.messages] == [(A,)]
        assert srv.messages[0].login == MAILBOX
