"""The local OAuth2 server and the SMTP test server's XOAUTH2 / OAUTHBEARER, on the wire."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import aiosmtplib
import httpx
import pytest

from tocsin.secret import Secret
from tocsin.signin.sasl import Mechanism, abort_response, initial_response
from tocsin.testing import OAuthTestServer, SMTPTestServer

CLIENT, SECRET = "app-1", "app-secret-1"
PUBLIC = "public-app"
MAILBOX = "alarms@contoso.test"


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(interval=2.0) as server:
        server.add_client(CLIENT, SECRET)
        server.add_client(PUBLIC)
        yield server


def post(server: OAuthTestServer, url: str, **form: str) -> httpx.Response:
    with httpx.Client(verify=server.ca.client_context()) as client:
        return client.post(url, data=form)


def test_client_credentials_give_a_token_that_checks_and_expires() -> None:
    with OAuthTestServer(token_lifetime=0.5) as server:
        server.add_client(CLIENT, SECRET)
        with httpx.Client(verify=server.ca.client_context()) as client:
            answer = client.post(
                server.token_url,
                data={"grant_type": "client_credentials", "scope": "s/.default"},
                auth=(CLIENT, SECRET),
            )
        assert answer.status_code == 200
        token = answer.json()["access_token"]
        assert "refresh_token" not in answer.json()
        assert server.check(token, MAILBOX)
        assert not server.check(token + "x")
        time.sleep(0.6)
        assert not server.check(token)
        assert post(server, server.introspection_url, token=token).json() == {"active": False}


@pytest.mark.parametrize(
    ("url_tenant", "form", "status", "error", "aadsts"),
    [
        ("other", {"client_id": CLIENT, "client_secret": SECRET}, 400, "invalid_request", "90002"),
        (
            None,
            {"client_id": "nobody", "client_secret": SECRET},
            400,
            "unauthorized_client",
            "700016",
        ),
        (None, {"client_id": CLIENT, "client_secret": "wrong"}, 401, "invalid_client", "7000215"),
    ],
)
def test_wrong_tenant_client_or_secret_get_entras_answers(
    oauth: OAuthTestServer,
    url_tenant: str | None,
    form: dict[str, str],
    status: int,
    error: str,
    aadsts: str,
) -> None:
    url = oauth.token_url.replace(oauth.tenant, url_tenant) if url_tenant else oauth.token_url
    answer = post(oauth, url, grant_type="client_credentials", **form)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert f"AADSTS{aadsts}:" in answer.json()["error_description"]


def start_device(oauth: OAuthTestServer) -> dict[str, object]:
    answer = post(oauth, oauth.device_url, client_id=PUBLIC, scope="offline_access")
    assert answer.status_code == 200
    doc: dict[str, object] = answer.json()
    assert doc["verification_uri"] == oauth.verification_url
    return doc


def poll(oauth: OAuthTestServer, code: object) -> httpx.Response:
    return post(
        oauth,
        oauth.token_url,
        grant_type="urn:ietf:params:oauth:grant-type:device_code",
        client_id=PUBLIC,
        device_code=str(code),
    )


def test_device_flow_pending_slow_down_then_approved_by_the_user(oauth: OAuthTestServer) -> None:
    doc = start_device(oauth)
    assert poll(oauth, doc["device_code"]).json()["error"] == "authorization_pending"
    # Sooner than the interval: slow_down, and the interval grows by 5 s (RFC 8628 §3.5).
    assert poll(oauth, doc["device_code"]).json()["error"] == "slow_down"
    # The user opens the verification page and approves.
    page = post(oauth, oauth.verification_url, user_code=str(doc["user_code"]), user=MAILBOX)
    assert page.json() == {"decision": "approved"}
    assert poll(oauth, doc["device_code"]).json()["error"] == "slow_down"  # still too soon
    slow = OAuthTestServer(interval=0.05, slow_down_step=0.1)
    with slow:
        slow.add_client(PUBLIC)
        doc = start_device(slow)
        time.sleep(0.06)
        assert poll(slow, doc["device_code"]).json()["error"] == "authorization_pending"
        slow.approve(str(doc["user_code"]), MAILBOX)
        time.sleep(0.06)
        token = poll(slow, doc["device_code"])
        assert token.status_code == 200
        tokens = token.json()
        assert slow.check(tokens["access_token"], MAILBOX)
        assert not slow.check(tokens["access_token"], "someone.else@contoso.test")
        # The device code is spent.
        time.sleep(0.06)
        assert poll(slow, doc["device_code"]).json()["error"] == "invalid_grant"


def test_device_code_denied_and_expired() -> None:
    # The refusal on a server whose codes live long: with 0.3 s a loaded machine's poll
    # may come after the code's end and rightly get expired_token instead.
    with OAuthTestServer(interval=0, device_lifetime=30) as server:
        server.add_client(PUBLIC)
        denied = start_device(server)
        server.deny(str(denied["user_code"]))
        assert poll(server, denied["device_code"]).json()["error"] == "access_denied"
    with OAuthTestServer(interval=0, device_lifetime=0.3) as server:
        server.add_client(PUBLIC)
        expired = start_device(server)
        time.sleep(0.35)
        assert poll(server, expired["device_code"]).json()["error"] == "expired_token"


def approved_tokens(oauth: OAuthTestServer) -> dict[str, str]:
    doc = start_device(oauth)
    oauth.approve(str(doc["user_code"]), MAILBOX)
    tokens: dict[str, str] = poll(oauth, doc["device_code"]).json()
    return tokens


def test_refresh_then_revocation(oauth: OAuthTestServer) -> None:
    tokens = approved_tokens(oauth)
    refreshed = post(
        oauth,
        oauth.token_url,
        grant_type="refresh_token",
        client_id=PUBLIC,
        refresh_token=tokens["refresh_token"],
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] != tokens["access_token"]
    assert post(oauth, oauth.revocation_url, token=tokens["refresh_token"]).status_code == 200
    again = post(
        oauth,
        oauth.token_url,
        grant_type="refresh_token",
        client_id=PUBLIC,
        refresh_token=refreshed.json()["refresh_token"],  # the whole grant is revoked
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert "AADSTS50173" in again.json()["error_description"]
    outcomes = [(r.grant_type, r.outcome) for r in oauth.token_requests]
    assert outcomes[-2:] == [("refresh_token", "ok"), ("refresh_token", "invalid_grant")]


def test_a_disabled_client_is_refused(oauth: OAuthTestServer) -> None:
    oauth.disable_client(CLIENT)
    answer = post(
        oauth,
        oauth.token_url,
        grant_type="client_credentials",
        client_id=CLIENT,
        client_secret=SECRET,
    )
    assert answer.json()["error"] == "unauthorized_client"
    assert "AADSTS7000112" in answer.json()["error_description"]


# ---------------------------------------------------------------- SMTP with bearer tokens


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode() or "="


@pytest.mark.parametrize("mechanism", list(Mechanism))
async def test_smtp_accepts_a_good_token_and_refuses_a_bad_one(
    oauth: OAuthTestServer, mechanism: Mechanism
) -> None:
    token = approved_tokens(oauth)["access_token"]
    server = SMTPTestServer(tls="implicit", oauth=oauth, auth_mechanisms=(mechanism.value,))
    async with server as srv:
        smtp = aiosmtplib.SMTP(
            hostname=srv.host, port=srv.port, use_tls=True, tls_context=srv.ca.client_context()
        )
        async with smtp:
            ehlo = await smtp.ehlo()
            assert f"AUTH {mechanism.value}" in ehlo.message.splitlines()
            bad = initial_response(mechanism, user=MAILBOX, token=Secret("forged"))
            reply = await smtp.execute_command(f"AUTH {mechanism.value} {b64(bad)}".encode())
            assert reply.code == 334
            challenge = json.loads(base64.b64decode(reply.message))
            assert challenge["status"] == (
                "401" if mechanism is Mechanism.XOAUTH2 else "invalid_token"
            )
            assert challenge["scope"] == oauth.scope_hint
            final = await smtp.execute_command(base64.b64encode(abort_response(mechanism)))
            assert final.code == 535
            good = initial_response(
                mechanism, user=MAILBOX, token=Secret(token), host="localhost", port=srv.port
            )
            ok = await smtp.execute_command(f"AUTH {mechanism.value} {b64(good)}".encode())
            assert ok.code == 235
            await smtp.sendmail(MAILBOX, ["ops@contoso.test"], b"Subject: t\r\n\r\nbody\r\n")
    assert srv.messages[0].login == MAILBOX
    assert srv.bearer_attempts == [
        (mechanism.value, MAILBOX, False),
        (mechanism.value, MAILBOX, True),
    ]


async def test_a_token_for_another_mailbox_is_refused(oauth: OAuthTestServer) -> None:
    token = approved_tokens(oauth)["access_token"]
    server = SMTPTestServer(oauth=oauth, auth_mechanisms=("XOAUTH2",))
    async with server as srv, aiosmtplib.SMTP(hostname=srv.host, port=srv.port) as smtp:
        other = initial_response(Mechanism.XOAUTH2, user="boss@contoso.test", token=Secret(token))
        reply = await smtp.execute_command(f"AUTH XOAUTH2 {b64(other)}".encode())
        assert reply.code == 334
        assert (await smtp.execute_command(b"")).code == 535
        garbled = await smtp.execute_command(b"AUTH XOAUTH2 " + b64(b"user=x").encode())
        assert garbled.code == 501
