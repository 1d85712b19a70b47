"""OAuth2 in the settings and the CLI: validated, stored encrypted, never shown; the
device code sign-in from the command line against the local OAuth2 server."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tocsin.secret import Secret
from tocsin.services.context import Services
from tocsin.settings import AuthMethod, EmailSettings, apply_update
from tocsin.signin import BearerLogin, TokenManager
from tocsin.signin.providers import oauth_config
from tocsin.testing import OAuthTestServer, SMTPTestServer

CLIENT, SECRET = "app-1", "app-secret-7f3a9"
PUBLIC = "public-app"
MAILBOX = "alarms@contoso.com"


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(interval=0.2) as server:
        server.add_client(CLIENT, SECRET)
        server.add_client(PUBLIC)
        yield server


def enabled(**changes: object) -> dict[str, object]:
    return {
        "enabled": "true",
        "host": "localhost",
        "sender_address": MAILBOX,
        "username": MAILBOX,
        "auth_method": "oauth2",
        **changes,
    }


def codes(changes: dict[str, object]) -> dict[str, str]:
    _, report = apply_update(EmailSettings(), changes)
    return {i.field: i.code for i in report.issues if i.level.value != "tip"}


def test_oauth_needs_its_fields_when_enabled() -> None:
    assert codes(enabled()) == {
        "oauth_client_id": "required",
        "oauth_tenant": "required",
        "oauth_client_secret": "oauth_secret_missing",  # a warning: set by its own command
    }
    assert codes(enabled(oauth_provider="generic", oauth_client_id="c")) == {
        "oauth_token_url": "required",
        "oauth_client_secret": "oauth_secret_missing",
    }
    ready = enabled(oauth_client_id="c", oauth_tenant="t", oauth_client_secret="s")
    assert codes(ready) == {}
    device = enabled(oauth_client_id="c", oauth_tenant="t", oauth_flow="device_code")
    assert codes(device) == {"oauth_refresh_token": "oauth_sign_in_needed"}


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"oauth_token_url": "http://login.example.com/token"}, "oauth_token_url", "invalid_value"),
        ({"oauth_authority": "https://bad host/"}, "oauth_authority", "invalid_value"),
        ({"oauth_flow": "service_account"}, "oauth_flow", "oauth_flow_unavailable"),
        (
            {"oauth_provider": "google", "oauth_flow": "device_code"},
            "oauth_flow",
            "oauth_flow_unavailable",
        ),
        ({"encryption": "none"}, "encryption", "oauth_plaintext"),
        ({"auth_method": "kerberos"}, "auth_method", "invalid_choice"),
    ],
)
def test_bad_oauth_settings_are_refused(changes: dict[str, object], field: str, code: str) -> None:
    _, report = apply_update(EmailSettings(), {"auth_method": "oauth2", **changes})
    assert not report.ok
    assert (field, code) in {(i.field, i.code) for i in report.issues}
    for language in ("en", "de"):
        texts = [i.text(language) for i in report.issues if i.field == field]
        assert texts
        assert all(t and not t.startswith("oauth_") for t in texts)


def test_the_password_rules_stay_for_password_and_none_skips_them() -> None:
    _, report = apply_update(
        EmailSettings(), {"username": "u", "encryption": "none", "password": "p"}
    )
    assert "plaintext_auth" in {i.code for i in report.issues}
    _, report = apply_update(EmailSettings(), {"auth_method": "none", "encryption": "none"})
    assert report.ok


def test_secrets_are_write_only_and_encrypted_at_rest(tmp_path: Path) -> None:
    services = Services.open(tmp_path)
    try:
        updated, report, saved = services.settings.update(
            enabled(
                oauth_client_id="c",
                oauth_tenant="t",
                oauth_client_secret=SECRET,
                oauth_refresh_token="refresh-0.AXk-very-long",
            )
        )
        assert saved, report
        view = updated.public()
        assert view["oauth_client_secret"] is None
        assert view["oauth_client_secret_set"] is True
        assert view["oauth_refresh_token_set"] is True
        assert SECRET not in repr(updated)
        assert SECRET not in str(view)
        loaded = services.settings.load()
        assert loaded.auth_method is AuthMethod.OAUTH2
        assert loaded.oauth_client_secret == Secret(SECRET)
        # Leaving the secret out of an update keeps it.
        services.settings.update({"oauth_scope": "x"})
        assert services.settings.load().oauth_client_secret == Secret(SECRET)
    finally:
        services.close()
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "secret.key":
            data = path.read_bytes()
            assert SECRET.encode() not in data, path
            assert b"refresh-0.AXk" not in data, path


# ---------------------------------------------------------------- the command line


class CLI:
    def __init__(self, data: Path) -> None:
        self.env = {**os.environ, "TOCSIN_DATA": str(data), "COLUMNS": "200", "NO_COLOR": "1"}
        self.outputs: list[str] = []

    def __call__(self, *args: str, stdin: str | None = None, ok: bool = True) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "tocsin", *args],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        self.outputs += [done.stdout, done.stderr]
        assert (done.returncode == 0) == ok, done.stdout + done.stderr
        return done.stdout + done.stderr

    def sign_in(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tocsin", "settings", "oauth", "sign-in", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


def configure(cli: CLI, oauth: OAuthTestServer, *pairs: str) -> None:
    cli(
        "settings",
        "set",
        "enabled=true",
        "host=localhost",
        "encryption=ssl",
        f"sender_address={MAILBOX}",
        f"username={MAILBOX}",
        "auth_method=oauth2",
        "oauth_provider=microsoft",
        f"oauth_tenant={oauth.tenant}",
        f"oauth_authority={oauth.base_url}",
        f"ca_file={oauth.ca.ca_path}",
        *pairs,
    )


def finish(process: subprocess.Popen[str], oauth: OAuthTestServer, decision: str) -> str:
    """Play the user: read the code the CLI shows, answer on the verification page."""
    assert process.stdout is not None
    first = process.stdout.readline()
    assert oauth.verification_url in first
    found = re.search(r"\b[BCDFGHJKLMNPQRSTVWXZ]{8}\b", first)
    assert found, first
    code = found.group(0)
    with httpx.Client(verify=oauth.ca.client_context()) as browser:
        page = browser.post(
            oauth.verification_url,
            data={"user_code": code, "user": MAILBOX, "decision": decision},
        )
    assert page.status_code == 200
    rest, _ = process.communicate(timeout=30)
    return first + rest


def test_secrets_are_refused_on_the_command_line(tmp_path: Path) -> None:
    cli = CLI(tmp_path)
    for field in ("oauth_client_secret", "oauth_refresh_token"):
        output = cli("settings", "set", f"{field}=abc", ok=False)
        assert "tocsin settings oauth" in output


def test_device_code_sign_in_from_the_cli_then_smtp_login(
    tmp_path: Path, oauth: OAuthTestServer
) -> None:
    cli = CLI(tmp_path)
    configure(cli, oauth, "oauth_flow=device_code", f"oauth_client_id={PUBLIC}")
    process = cli.sign_in()
    output = finish(process, oauth, "approve")
    assert process.returncode == 0, output
    assert f"Signed in for {MAILBOX}" in output
    shown = cli("settings", "show")
    assert "oauth_refresh_token" in shown
    assert "not set" not in shown.split("oauth_refresh_token", 1)[1].splitlines()[0]
    # The stored sign-in gets tokens the SMTP server takes.
    services = Services.open(tmp_path)
    try:
        config = oauth_config(services.settings.load())
    finally:
        services.close()

    async def login() -> bool:
        tokens = TokenManager(config)
        async with SMTPTestServer(
            tls="implicit", ca=oauth.ca, oauth=oauth, auth_mechanisms=("XOAUTH2",)
        ) as srv:
            import aiosmtplib

            smtp = aiosmtplib.SMTP(
                hostname=srv.host, port=srv.port, use_tls=True, tls_context=srv.ca.client_context()
            )
            async with smtp:
                await smtp.ehlo()
                bearer = BearerLogin(tokens, user=MAILBOX)
                mechanism = bearer.mechanism(smtp.server_auth_methods)
                text = await bearer.initial_response(mechanism, host=srv.host, port=srv.port)
                reply = await smtp.execute_command(f"AUTH {mechanism.value} {text}".encode())
                return reply.code == 235

    assert asyncio.run(login())
    leaked = [s for s in oauth.issued_secrets for o in [*cli.outputs, output] if s in o]
    assert leaked == []
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "secret.key":
            data = path.read_bytes()
            assert not [s for s in oauth.issued_secrets if s.encode() in data], path


def test_a_declined_sign_in_says_so_in_german(tmp_path: Path, oauth: OAuthTestServer) -> None:
    cli = CLI(tmp_path)
    configure(cli, oauth, "oauth_flow=device_code", f"oauth_client_id={PUBLIC}")
    process = cli.sign_in("--lang", "de")
    output = finish(process, oauth, "deny")
    assert process.returncode == 1
    assert "Die Anmeldung wurde abgelehnt" in output
    assert "not set" in cli("settings", "show").split("oauth_refresh_token", 1)[1].splitlines()[0]


def test_sign_in_before_the_settings_are_ready_names_what_is_missing(tmp_path: Path) -> None:
    cli = CLI(tmp_path)
    output = cli("settings", "oauth", "sign-in", ok=False)
    assert "auth_method=oauth2 oauth_flow=device_code" in output


def test_client_secret_from_stdin_gets_an_app_only_token(
    tmp_path: Path, oauth: OAuthTestServer
) -> None:
    cli = CLI(tmp_path)
    configure(cli, oauth, f"oauth_client_id={CLIENT}")
    assert "saved" in cli("settings", "oauth", "secret", "--stdin", stdin=SECRET + "\n")
    shown = cli("settings", "show", "--json")
    assert '"oauth_client_secret_set": true' in shown
    services = Services.open(tmp_path)
    try:
        config = oauth_config(services.settings.load())
    finally:
        services.close()
    token = asyncio.run(TokenManager(config).token())
    assert oauth.check(token.value.reveal(), MAILBOX)
    assert not [o for o in cli.outputs if SECRET in o]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "secret.key":
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_rotated_refresh_token_is_stored_and_the_token_still_shared(
    tmp_path: Path, oauth: OAuthTestServer
) -> None:
    from tocsin.signin import finish_device_sign_in, shared_tokens, start_device_sign_in

    services = Services.open(tmp_path)
    try:
        _, report, saved = services.settings.update(
            enabled(
                oauth_flow="device_code",
                oauth_client_id=PUBLIC,
                oauth_tenant=oauth.tenant,
                oauth_authority=oauth.base_url,
                ca_file=str(oauth.ca.ca_path),
                encryption="ssl",
            )
        )
        assert saved, report

        async def sign_in() -> Secret:
            config = oauth_config(services.settings.load())
            code = await start_device_sign_in(config)
            oauth.approve(code.user_code, MAILBOX)
            return (await finish_device_sign_in(config, code)).refresh_token

        first = asyncio.run(sign_in())
        services.settings.update({"oauth_refresh_token": first})
        settings = services.settings.load()

        def keep(rotated: Secret) -> None:
            services.settings.keep_refresh_token(rotated, replaces=first)

        manager = shared_tokens(oauth_config(settings), on_refresh_token=keep)
        asyncio.run(manager.token())
        stored = services.settings.load().oauth_refresh_token
        assert stored is not None
        assert stored != first  # the provider rotated it; the new one is kept
        # The settings now hold the rotated token: still the same manager and token.
        assert shared_tokens(oauth_config(services.settings.load())) is manager
        # A stale rotation does not overwrite a newer sign-in.
        assert not services.settings.keep_refresh_token(Secret("stale"), replaces=first)
    finally:
        services.close()
