"""Google service accounts (RFC 7523 JWT bearer) against the local OAuth2 server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey

from helpers import run_tocsin
from tocsin.errors import SignInRefused
from tocsin.secret import Secret
from tocsin.services.context import Services
from tocsin.settings import EmailSettings, apply_update
from tocsin.signin import BearerLogin, Flow, OAuthConfig, ProviderKind, TokenManager
from tocsin.signin.providers import oauth_config
from tocsin.signin.sasl import Mechanism
from tocsin.testing import OAuthTestServer

ACCOUNT = "tocsin-mailer@contoso-project.iam.gserviceaccount.com"
MAILBOX = "alarms@contoso.com"


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer() as server:
        yield server


def key_file(oauth: OAuthTestServer, *, delegated: bool = True) -> str:
    key = RSAKey.generate_key(2048)
    oauth.add_service_account(ACCOUNT, key.as_pem(private=False), delegated=delegated)
    return json.dumps(
        {
            "type": "service_account",
            "client_email": ACCOUNT,
            "private_key": key.as_pem(private=True).decode(),
            "token_uri": oauth.google_token_url,
        }
    )


def config(oauth: OAuthTestServer, key: str) -> OAuthConfig:
    return OAuthConfig(
        provider=ProviderKind.GOOGLE,
        flow=Flow.SERVICE_ACCOUNT,
        client_id="",
        service_account_key=Secret(key),
        mailbox=MAILBOX,
        ca_file=str(oauth.ca.ca_path),
    )


async def test_a_delegated_service_account_gets_a_token_for_the_mailbox(
    oauth: OAuthTestServer,
) -> None:
    token = await TokenManager(config(oauth, key_file(oauth))).token()
    assert token.scope == "https://mail.google.com/"
    assert oauth.check(token.value.reveal(), MAILBOX)
    assert not oauth.check(token.value.reveal(), "boss@contoso.com")
    login = BearerLogin(TokenManager(config(oauth, key_file(oauth))), user=MAILBOX)
    assert await login.initial_response(Mechanism.XOAUTH2, host="smtp.gmail.com", port=465)


async def test_without_delegation_the_admin_must_allow_it(oauth: OAuthTestServer) -> None:
    with pytest.raises(SignInRefused) as caught:
        await TokenManager(config(oauth, key_file(oauth, delegated=False))).token()
    assert caught.value.hint == "consent_missing"


async def test_a_key_the_server_does_not_know_is_refused(oauth: OAuthTestServer) -> None:
    known = key_file(oauth)
    other = json.loads(known)
    other["private_key"] = RSAKey.generate_key(2048).as_pem(private=True).decode()
    with pytest.raises(SignInRefused) as caught:
        await TokenManager(config(oauth, json.dumps(other))).token()
    assert caught.value.hint == "grant_revoked"  # Google: invalid_grant, "Invalid JWT Signature"
    with pytest.raises(SignInRefused) as broken:
        await TokenManager(config(oauth, '{"type": "service_account"}')).token()
    assert broken.value.hint == "key_invalid"


def test_the_settings_check_the_key_shape() -> None:
    base = {
        "enabled": True,
        "host": "smtp.gmail.com",
        "sender_address": MAILBOX,
        "username": MAILBOX,
        "auth_method": "oauth2",
        "oauth_provider": "google",
        "oauth_flow": "service_account",
    }
    _, report = apply_update(EmailSettings(), base)
    assert report.ok, report.issues
    assert "oauth_key_missing" in {i.code for i in report.issues}
    _, report = apply_update(EmailSettings(), {**base, "oauth_service_account_key": "{}"})
    assert not report.ok
    assert {i.field for i in report.issues if i.level.value == "error"} == {
        "oauth_service_account_key"
    }


def test_the_key_from_a_private_file_is_stored_encrypted(
    tmp_path: Path, oauth: OAuthTestServer
) -> None:
    key = key_file(oauth)
    path = tmp_path / "key.json"
    path.write_text(key)
    path.chmod(0o600)
    data = tmp_path / "data"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_tocsin(data, *args)

    done = cli(
        "settings",
        "set",
        "auth_method=oauth2",
        "oauth_provider=google",
        "oauth_flow=service_account",
        f"username={MAILBOX}",
        f"ca_file={oauth.ca.ca_path}",
    )
    assert done.returncode == 0, done.stderr
    done = cli("settings", "oauth", "key", "--file", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    private = json.loads(key)["private_key"].splitlines()[5]
    assert private not in done.stdout + done.stderr
    path.chmod(0o644)
    refused = cli("settings", "oauth", "key", "--file", str(path))
    assert refused.returncode == 2
    services = Services.open(data)
    try:
        settings = services.settings.load()
    finally:
        services.close()
    assert settings.oauth_service_account_key == Secret(key)
    for stored in data.rglob("*"):
        if stored.is_file() and stored.name != "secret.key":
            assert private.encode() not in stored.read_bytes(), stored
    import asyncio

    token = asyncio.run(TokenManager(oauth_config(settings)).token())
    assert oauth.check(token.value.reveal(), MAILBOX)
