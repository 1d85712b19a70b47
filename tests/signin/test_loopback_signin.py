"""The browser sign-in (authorization code + PKCE, loopback redirect) against the local
OAuth2 server: the test plays the browser, following the redirect to Tocsin's listener."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tocsin.errors import SignInFailed
from tocsin.secret import Secret
from tocsin.services.context import Services
from tocsin.signin import Flow, OAuthConfig, ProviderKind, TokenManager, loopback_sign_in
from tocsin.signin.providers import oauth_config
from tocsin.testing import OAuthTestServer

CLIENT, SECRET = "desktop-app.apps.googleusercontent.com", "GOCSPX-desktop-secret"
MAILBOX = "alarms@contoso.com"


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer() as server:
        server.add_client(CLIENT, SECRET)
        yield server


def google(oauth: OAuthTestServer) -> OAuthConfig:
    return OAuthConfig(
        provider=ProviderKind.GOOGLE,
        flow=Flow.LOOPBACK,
        client_id=CLIENT,
        client_secret=Secret(SECRET),
        token_url=oauth.google_token_url,
        authorize_url=oauth.authorization_url,
        ca_file=str(oauth.ca.ca_path),
    )


async def browse(oauth: OAuthTestServer, url: str, decision: str = "approve") -> httpx.Response:
    """The person's browser: the provider's page (signing in), then the redirect back."""
    async with httpx.AsyncClient(verify=oauth.ca.client_context()) as browser:
        page = await browser.get(f"{url}&user={MAILBOX}&decision={decision}")
        assert page.status_code == 302
        location = page.headers["location"]
        assert location.startswith("http://127.0.0.1:")
        return await browser.get(location)


async def test_browser_sign_in_gives_a_refresh_token(oauth: OAuthTestServer) -> None:
    shown: list[str] = []
    opened: list[asyncio.Task[httpx.Response]] = []

    def show(url: str) -> None:
        shown.append(url)
        opened.append(asyncio.create_task(browse(oauth, url)))

    signed = await loopback_sign_in(google(oauth), show=show, timeout=10)
    page = await opened[0]
    assert page.status_code == 200
    assert "close this window" in page.text
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(shown[0]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["https://mail.google.com/"]
    assert SECRET not in shown[0]
    assert oauth.check(signed.access.value.reveal(), MAILBOX)
    tokens = TokenManager(replace(google(oauth), refresh_token=signed.refresh_token))
    assert oauth.check((await tokens.token()).value.reveal(), MAILBOX)


async def test_a_declined_or_forged_answer_is_refused(oauth: OAuthTestServer) -> None:
    tasks: list[asyncio.Task[object]] = []

    def deny(url: str) -> None:
        tasks.append(asyncio.create_task(browse(oauth, url, "deny")))

    with pytest.raises(SignInFailed) as denied:
        await loopback_sign_in(google(oauth), show=deny, timeout=10)
    assert denied.value.code == "denied"

    def forge(url: str) -> None:
        # Another page sends the browser to the listener with a state of its own.
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        target = query["redirect_uri"][0] + "?code=stolen&state=not-ours"

        async def go() -> None:
            async with httpx.AsyncClient() as browser:
                await browser.get(target)

        tasks.append(asyncio.create_task(go()))

    with pytest.raises(SignInFailed) as expired:
        await loopback_sign_in(google(oauth), show=forge, timeout=1)
    await asyncio.gather(*tasks)
    assert expired.value.code == "expired"
    assert [r.grant_type for r in oauth.token_requests] == []  # the forged code never used


def test_browser_sign_in_from_the_cli(tmp_path: Path, oauth: OAuthTestServer) -> None:
    env = {**os.environ, "TOCSIN_DATA": str(tmp_path), "COLUMNS": "400", "NO_COLOR": "1"}

    def cli(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "tocsin", *args],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    cli(
        "settings",
        "set",
        "auth_method=oauth2",
        "oauth_provider=google",
        "oauth_flow=loopback",
        f"oauth_client_id={CLIENT}",
        f"username={MAILBOX}",
        f"oauth_token_url={oauth.google_token_url}",
        f"oauth_authorize_url={oauth.authorization_url}",
        f"ca_file={oauth.ca.ca_path}",
    )
    cli("settings", "oauth", "secret", "--stdin", stdin=SECRET + "\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "settings", "oauth", "sign-in"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    found = re.search(r"https://\S+", first)
    assert found, first
    asyncio.run(browse(oauth, found.group(0)))
    rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, first + rest
    assert f"Signed in for {MAILBOX}" in rest
    services = Services.open(tmp_path)
    try:
        settings = services.settings.load()
    finally:
        services.close()
    assert settings.oauth_refresh_token
    token = asyncio.run(TokenManager(oauth_config(settings)).token())
    assert oauth.check(token.value.reveal(), MAILBOX)
    assert not [s for s in oauth.issued_secrets if s in first + rest]


@pytest.mark.parametrize(
    ("client", "host", "elsewhere"),
    [
        ("127.0.0.1", "127.0.0.1", False),
        ("::1", "localhost", False),
        ("127.0.0.2", "[::1]", False),
        ("192.0.2.7", "127.0.0.1", True),  # another machine
        ("127.0.0.1", "tocsin.example.com", True),  # behind a reverse proxy
        (None, "localhost", True),
        ("127.0.0.1", None, True),
    ],
)
def test_a_browser_elsewhere_is_recognised(
    client: str | None, host: str | None, elsewhere: bool
) -> None:
    from tocsin.services.oauth_signin import browser_is_elsewhere

    assert browser_is_elsewhere(client, host) is elsewhere
