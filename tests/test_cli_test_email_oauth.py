"""``tocsin test-email`` with OAuth2: the token step (endpoint, scope, expiry, never the
token) and the SASL mechanism as lines, and the provider's refusal with its fix, in
English and German; against the local OAuth2 server and an SMTP test server that checks
the tokens."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import run_tocsin
from oauth_support import oauth_settings
from tocsin.i18n import translate
from tocsin.secret import Secret
from tocsin.services.context import Services
from tocsin.testing import OAuthTestServer, ThreadedSMTPTestServer

CLIENT, SECRET = "alarm-app", "app-secret-4711"
MAILBOX = "alarm@example.com"


def tocsin(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_tocsin(data, *args, columns=250)


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer() as server:
        server.add_client(CLIENT, SECRET)
        yield server


def configure(data: Path, smtp: ThreadedSMTPTestServer, oauth: OAuthTestServer) -> None:
    services = Services.open(data)
    try:
        app_only = oauth_settings(
            oauth, client_id=CLIENT, mailbox=MAILBOX, port=smtp.port, enabled=True,
            oauth_client_secret=Secret(SECRET),
        )  # fmt: skip
        services.settings.save(app_only)
    finally:
        services.close()


def smtp_for(oauth: OAuthTestServer) -> ThreadedSMTPTestServer:
    return ThreadedSMTPTestServer(
        ca=oauth.ca, tls="implicit", oauth=oauth, auth_mechanisms=("XOAUTH2",)
    )


def test_the_cli_shows_the_token_step_and_the_mechanism(
    tmp_path: Path, oauth: OAuthTestServer
) -> None:
    with smtp_for(oauth) as smtp:
        configure(tmp_path, smtp, oauth)
        done = tocsin(tmp_path, "test-email", "--to", "ops@example.net")
        issued = oauth.issued_secrets
        port = oauth.port
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    token = next(line for line in lines if line.startswith("✓ oauth"))
    assert f"token obtained from localhost:{port}" in token
    assert "scope https://outlook.office365.com/.default, expires in 60 min" in token
    auth = next(line for line in lines if line.startswith("✓ auth"))
    assert "XOAUTH2" in auth
    assert lines.index(token) < lines.index(auth)
    assert issued
    assert not [s for s in [*issued, SECRET] if s in done.stdout + done.stderr]
    # The run is in the delivery log's list of test emails, with no token or secret.
    services = Services.open(tmp_path)
    try:
        runs = services.store.list_test_emails()
    finally:
        services.close()
    assert [(r.recipient, r.ok, r.typed, r.step) for r in runs] == [
        ("ops@example.net", True, False, "")
    ]
    assert "250" in runs[0].detail
    files = sorted(tmp_path.glob("tocsin.db*"))
    assert files
    for path in files:
        content = path.read_bytes()
        assert not [s for s in [*issued, SECRET] if s.encode() in content], path


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_cli_names_the_fix_for_an_expired_secret(
    tmp_path: Path, oauth: OAuthTestServer, language: str
) -> None:
    oauth.expire_secret(CLIENT)
    with smtp_for(oauth) as smtp:
        configure(tmp_path, smtp, oauth)
        done = tocsin(tmp_path, "test-email", "--to", "ops@example.net", "--lang", language)
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "✗ oauth" in out
    assert "AADSTS7000222" in out
    assert f"→ {translate('oauth_hint_secret_expired', language)}" in out
    assert SECRET not in out
