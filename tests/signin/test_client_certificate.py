"""Microsoft app-only sign-in with a certificate instead of a client secret: the PEM is
read and checked, stored encrypted and write-only, and its key signs the client assertion
(RFC 7523) that the local OAuth2 server verifies as Entra ID does."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import RSAKey

from helpers import run_tocsin
from tocsin.errors import SignInRefused
from tocsin.providers.credentials import (
    CertificateProblem,
    expiry_state,
    parse_client_certificate,
)
from tocsin.secret import Secret
from tocsin.services.context import Services
from tocsin.settings import EmailSettings, apply_update
from tocsin.signin import Flow, OAuthConfig, ProviderKind, TokenManager
from tocsin.signin.providers import oauth_config
from tocsin.testing import OAuthTestServer, make_client_certificate
from tocsin.testing.client_certs import AssertionRefused, check_client_assertion

CLIENT = "cert-app"
MAILBOX = "alarms@contoso.com"
PAIR = make_client_certificate()
OTHER = make_client_certificate(common_name="someone-else")


def key_body(pem: str) -> str:
    """A line from inside the private key block: what must never show anywhere."""
    lines = pem.splitlines()
    return lines[lines.index(next(x for x in lines if "PRIVATE KEY" in x)) + 3]


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer() as server:
        server.add_client(CLIENT, certificate=PAIR.certificate_pem)
        yield server


def config(server: OAuthTestServer, pem: str, **changes: object) -> OAuthConfig:
    values: dict[str, object] = {
        "provider": ProviderKind.MICROSOFT,
        "flow": Flow.APP_ONLY,
        "client_id": CLIENT,
        "client_certificate": Secret(pem),
        "tenant": server.tenant,
        "authority": server.base_url,
        "ca_file": str(server.ca.ca_path),
        "timeout": 5.0,
    }
    values.update(changes)
    return OAuthConfig(**values)  # type: ignore[arg-type]


# ---------------------------------------------------------------- reading the PEM


def test_a_key_and_its_certificate_are_read_in_either_order() -> None:
    key, _, cert = PAIR.pem.partition("-----BEGIN CERTIFICATE-----")
    swapped = "-----BEGIN CERTIFICATE-----" + cert + "\n" + key
    for text in (PAIR.pem, swapped, PAIR.pem.replace("\n", "\r\n")):
        parsed = parse_client_certificate(text)
        assert parsed.thumbprint_hex == PAIR.thumbprint_hex
        assert len(parsed.thumbprint_sha256) == 43  # base64url of 32 bytes, unpadded
        assert "CN=tocsin-alarms" in parsed.subject
    assert "BEGIN" not in repr(parse_client_certificate(PAIR.pem))


def _ec_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _encrypted_key_pem() -> str:
    key = serialization.load_pem_private_key(
        PAIR.pem.split("-----BEGIN CERTIFICATE-----")[0].encode(), None
    )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()


CERT_ONLY = PAIR.certificate_pem.decode()
KEY_ONLY = PAIR.pem.replace(CERT_ONLY, "")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not a pem at all", "not_pem"),
        ("", "not_pem"),
        (CERT_ONLY, "no_key"),
        (KEY_ONLY, "no_certificate"),
        (KEY_ONLY + OTHER.certificate_pem.decode(), "mismatch"),
        (_ec_key_pem() + CERT_ONLY, "key_not_rsa"),
        (_encrypted_key_pem() + CERT_ONLY, "key_encrypted"),
        (
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" + CERT_ONLY,
            "key_unreadable",
        ),
        (
            KEY_ONLY + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "certificate_unreadable",
        ),
    ],
)
def test_each_unusable_pem_is_named(text: str, code: str) -> None:
    with pytest.raises(CertificateProblem) as caught:
        parse_client_certificate(text)
    assert caught.value.code == code
    assert "PRIVATE" not in str(caught.value)


def test_expiry_is_told_apart() -> None:
    cert = parse_client_certificate(PAIR.pem)
    now = datetime.datetime.now(datetime.UTC)
    assert expiry_state(cert, now) is None
    assert expiry_state(cert, cert.not_after - datetime.timedelta(days=10)) == "expiring"
    assert expiry_state(cert, cert.not_after + datetime.timedelta(seconds=1)) == "expired"


# ---------------------------------------------------------------- the settings


def enabled(**changes: object) -> dict[str, object]:
    return {
        "enabled": "true",
        "host": "smtp.office365.com",
        "sender_address": MAILBOX,
        "username": MAILBOX,
        "auth_method": "oauth2",
        "oauth_tenant": "contoso.onmicrosoft.com",
        "oauth_client_id": CLIENT,
        **changes,
    }


def test_a_certificate_replaces_the_secret_in_the_settings() -> None:
    updated, report = apply_update(EmailSettings(), enabled(oauth_client_certificate=PAIR.pem))
    assert report.ok, report
    assert not [i for i in report.issues if i.field.startswith("oauth_client")]
    view = updated.public()
    assert view["oauth_client_certificate"] is None
    assert view["oauth_client_certificate_set"] is True
    assert key_body(PAIR.pem) not in json.dumps(view, default=str) + repr(updated)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "The private key and the certificate do not match."),
        ("de", "Der private Schlüssel und das Zertifikat passen nicht zusammen."),
    ],
)
def test_a_mismatched_pair_is_refused_in_one_sentence(language: str, expected: str) -> None:
    mixed = KEY_ONLY + OTHER.certificate_pem.decode()
    _, report = apply_update(EmailSettings(), enabled(oauth_client_certificate=mixed))
    (issue,) = report.errors
    assert (issue.field, issue.code) == ("oauth_client_certificate", "oauth_certificate_invalid")
    assert issue.text(language) == expected


def test_an_expired_or_expiring_certificate_is_saved_with_a_warning() -> None:
    for days, code in ((-2, "oauth_certificate_expired"), (10, "oauth_certificate_expiring")):
        pair = make_client_certificate(days=days)
        _, report = apply_update(EmailSettings(), enabled(oauth_client_certificate=pair.pem))
        assert report.ok
        (issue,) = [i for i in report.issues if i.field == "oauth_client_certificate"]
        assert (issue.code, issue.level.value) == (code, "warning")
        day = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)).date()
        assert day.isoformat() in issue.text("de")


def test_a_multiline_key_file_is_accepted_but_other_control_characters_are_not() -> None:
    _, report = apply_update(EmailSettings(), enabled(oauth_client_certificate=PAIR.pem + "\x00"))
    assert [i.code for i in report.errors] == ["unsafe_text"]


# ---------------------------------------------------------------- the token endpoint


async def test_the_certificate_gets_an_app_only_token(oauth: OAuthTestServer) -> None:
    manager = TokenManager(config(oauth, PAIR.pem))
    token = await manager.token()
    assert oauth.check(token.value.reveal(), MAILBOX)
    assert token.scope == "https://outlook.office365.com/.default"
    assert oauth.assertions_accepted == 1
    assert [r.outcome for r in oauth.token_requests] == ["ok"]


async def test_the_certificate_wins_over_a_stored_secret(oauth: OAuthTestServer) -> None:
    manager = TokenManager(config(oauth, PAIR.pem, client_secret=Secret("left-over")))
    token = await manager.token()
    assert oauth.check(token.value.reveal())
    assert oauth.assertions_accepted == 1


async def test_a_certificate_not_registered_is_refused_with_the_hint(
    oauth: OAuthTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SignInRefused) as caught:
        await TokenManager(config(oauth, OTHER.pem)).token()
    assert caught.value.hint == "certificate_invalid"
    assert "AADSTS700027" in str(caught.value)
    assert [r.outcome for r in oauth.token_requests] == ["invalid_client"]
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert key_body(OTHER.pem) not in text


async def test_a_certificate_registered_later_is_accepted(oauth: OAuthTestServer) -> None:
    oauth.add_certificate(CLIENT, OTHER.certificate_pem)
    token = await TokenManager(config(oauth, OTHER.pem)).token()
    assert oauth.check(token.value.reveal())


async def test_a_clock_far_off_is_named() -> None:
    with OAuthTestServer(clock=lambda: time.time() + 7200) as server:
        server.add_client(CLIENT, certificate=PAIR.certificate_pem)
        with pytest.raises(SignInRefused) as caught:
            await TokenManager(config(server, PAIR.pem)).token()
    assert caught.value.hint == "clock_skew"
    assert "AADSTS700024" in str(caught.value)


async def test_an_unusable_stored_certificate_pauses_without_a_request(
    oauth: OAuthTestServer,
) -> None:
    with pytest.raises(SignInRefused) as caught:
        await TokenManager(config(oauth, "garbage")).token()
    assert caught.value.hint == "certificate_invalid"
    assert oauth.token_requests == []


# ---------------------------------------------------------------- the server's checks


def _assertion(pair_pem: str, **claims: object) -> str:
    cert = parse_client_certificate(pair_pem)
    now = int(time.time())
    body = {"iss": CLIENT, "sub": CLIENT, "aud": "https://t/token", "exp": now + 600, "jti": "j"}
    body.update(claims)
    header = {"alg": "PS256", "typ": "JWT", "x5t#S256": cert.thumbprint_sha256}
    key = RSAKey.import_key(cert.private_key_pem.reveal())
    return jwt.encode(header, body, key, algorithms=["PS256"])


def _check(assertion: str) -> None:
    from cryptography import x509

    check_client_assertion(
        assertion,
        client_id=CLIENT,
        certificates=[x509.load_pem_x509_certificate(PAIR.certificate_pem)],
        audience="https://t/token",
        now=time.time(),
    )


def test_the_server_checks_signature_issuer_audience_and_time() -> None:
    _check(_assertion(PAIR.pem))
    head, _body, signature = _assertion(PAIR.pem).split(".")
    forged = base64.urlsafe_b64encode(b'{"iss":"cert-app","sub":"cert-app"}').rstrip(b"=")
    cases = {
        f"{head}.{forged.decode()}.{signature}": "AADSTS700027",
        _assertion(PAIR.pem, iss="another-app"): "AADSTS700021",
        _assertion(PAIR.pem, aud="https://elsewhere/token"): "AADSTS700023",
        _assertion(PAIR.pem, exp=int(time.time()) - 3600): "AADSTS700024",
        _assertion(OTHER.pem): "AADSTS700027",
        "not-a-jwt": "AADSTS50027",
    }
    for assertion, code in cases.items():
        with pytest.raises(AssertionRefused) as caught:
            _check(assertion)
        assert caught.value.description.startswith(code + ":"), (code, caught.value.description)


def test_an_expired_registered_certificate_is_refused() -> None:
    from cryptography import x509

    old = make_client_certificate(days=-1)
    with pytest.raises(AssertionRefused) as caught:
        check_client_assertion(
            _assertion(old.pem),
            client_id=CLIENT,
            certificates=[x509.load_pem_x509_certificate(old.certificate_pem)],
            audience="https://t/token",
            now=time.time(),
        )
    assert "The key used is expired" in caught.value.description


# ---------------------------------------------------------------- the command line


def _cli(data: Path, *args: str, ok: bool = True) -> str:
    done = run_tocsin(data, *args)
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_the_cli_stores_the_certificate_encrypted_and_it_gets_a_token(
    tmp_path: Path, oauth: OAuthTestServer
) -> None:
    data = tmp_path / "data"
    pem = tmp_path / "app.pem"
    pem.write_text(PAIR.pem)
    pem.chmod(0o600)
    _cli(
        data,
        "settings",
        "set",
        "enabled=true",
        "host=localhost",
        "encryption=ssl",
        f"sender_address={MAILBOX}",
        f"username={MAILBOX}",
        "auth_method=oauth2",
        f"oauth_tenant={oauth.tenant}",
        f"oauth_client_id={CLIENT}",
        f"oauth_authority={oauth.base_url}",
        f"ca_file={oauth.ca.ca_path}",
    )
    outputs = [_cli(data, "settings", "oauth", "certificate", "--file", str(pem))]
    assert "Client certificate saved" in outputs[0]
    outputs.append(_cli(data, "settings", "show", "--json"))
    assert '"oauth_client_certificate_set": true' in outputs[-1]
    services = Services.open(data)
    try:
        token = asyncio.run(TokenManager(oauth_config(services.settings.load())).token())
    finally:
        services.close()
    assert oauth.check(token.value.reveal(), MAILBOX)
    mixed = tmp_path / "mixed.pem"
    mixed.write_text(KEY_ONLY + OTHER.certificate_pem.decode())
    mixed.chmod(0o600)
    outputs.append(
        _cli(
            data, "settings", "oauth", "certificate", "--file", str(mixed), "--lang", "de", ok=False
        )
    )
    assert "passen nicht zusammen" in outputs[-1]
    outputs.append(_cli(data, "settings", "set", "oauth_client_certificate=x", ok=False))
    assert "tocsin settings oauth certificate" in outputs[-1]
    for text in outputs:
        assert key_body(PAIR.pem) not in text
    for path in data.rglob("*"):
        if path.is_file() and path.name != "secret.key":
            assert key_body(PAIR.pem).encode() not in path.read_bytes(), path


async def test_an_expired_certificate_is_refused_by_the_provider_with_its_own_hint() -> None:
    old = make_client_certificate(days=-1)
    with OAuthTestServer() as server:
        server.add_client(CLIENT, certificate=old.certificate_pem)
        with pytest.raises(SignInRefused) as caught:
            await TokenManager(config(server, old.pem)).token()
    assert caught.value.hint == "certificate_expired"
    assert "AADSTS700027" in str(caught.value)
