"""Failed API-token authentications are throttled per client address, over real HTTP.

The attacker connects from 127.0.0.2 (Linux routes all of 127.0.0.0/8 to loopback), the
honest client from 127.0.0.1, to the same uvicorn server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import LiveServer, tocsin_cli, tocsin_serve
from tocsin.app import create_app
from tocsin.services.accounts import ENV_TOKEN_FAILURE_LIMIT
from tocsin.services.context import Services

LIMIT = 7


@pytest.fixture
def throttled_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A live API allowing ``LIMIT`` failures per address: (its URL, a valid admin token)."""
    monkeypatch.setenv(ENV_TOKEN_FAILURE_LIMIT, str(LIMIT))
    services = Services.open(tmp_path / "data")
    live = LiveServer(create_app(services))
    token, _ = services.accounts.create_token("tests", ("admin",))
    yield live.url, token
    live.close()
    services.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_burst_of_bad_tokens_is_throttled_for_that_address_only(
    throttled_server: tuple[str, str],
) -> None:
    url, good = throttled_server
    attacker_side = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=url, transport=attacker_side, timeout=30) as attacker:
        statuses = [
            attacker.get("/api/v1/settings", headers=_bearer(f"tcn_guess{i}")).status_code
            for i in range(200)
        ]
        assert statuses[:LIMIT] == [401] * LIMIT
        assert set(statuses[LIMIT:]) == {429}
        refused = attacker.get("/api/v1/settings", headers=_bearer("tcn_guess"))
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 61
        assert "too many failed token authentications" in refused.json()["detail"]
        # A valid token still works from there: refusing it would protect nothing (no
        # number of guesses finds a random token) and would block a site's alarms
        # behind the same NAT.  Nor does it lift the throttle for the guesses.
        assert attacker.get("/api/v1/settings", headers=_bearer(good)).status_code == 200
        assert attacker.get("/api/v1/settings", headers=_bearer("tcn_x")).status_code == 429
    with httpx.Client(base_url=url, headers=_bearer(good), timeout=30) as honest:
        assert honest.get("/api/v1/settings").status_code == 200
        metrics = honest.get("/metrics")
    assert metrics.status_code == 200
    assert f"tocsin_api_token_failures_total {LIMIT}.0" in metrics.text
    assert f"tocsin_api_throttled_total {200 - LIMIT + 2}.0" in metrics.text


def test_the_limit_must_be_a_positive_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_TOKEN_FAILURE_LIMIT, "0")
    with pytest.raises(ValueError, match=ENV_TOKEN_FAILURE_LIMIT):
        Services.open(tmp_path / "data")


def test_tocsin_serve_counts_the_connecting_address_not_a_forwarded_one(tmp_path: Path) -> None:
    """The real ``tocsin serve``: an attacker on loopback (which uvicorn would trust as a
    proxy) names a new address in X-Forwarded-For with every guess and is throttled all
    the same after the configured burst; a valid token from 127.0.0.2 still works."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env |= {"TOCSIN_DATA": str(tmp_path / "data"), "NO_COLOR": "1"}
    env[ENV_TOKEN_FAILURE_LIMIT] = str(LIMIT)
    good = tocsin_cli(env, "token", "create", "gateway", "--scope", "admin").strip()
    with tocsin_serve(env) as url:
        with httpx.Client(base_url=url, timeout=30) as attacker:
            statuses = [
                attacker.get(
                    "/api/v1/settings",
                    headers={
                        **_bearer(f"tcn_guess{i}"),
                        "X-Forwarded-For": f"198.51.100.{i}",
                        "Forwarded": f"for=198.51.100.{i}",
                    },
                ).status_code
                for i in range(200)
            ]
            refused = attacker.get("/api/v1/settings", headers=_bearer("tcn_guess"))
        assert statuses[:LIMIT] == [401] * LIMIT
        assert set(statuses[LIMIT:]) == {429}
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 61
        honest_side = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=url, transport=honest_side, headers=_bearer(good)) as honest:
            assert honest.get("/api/v1/settings").status_code == 200
            metrics = honest.get("/metrics").text
    assert f"tocsin_api_token_failures_total {LIMIT}.0" in metrics
    assert f"tocsin_api_throttled_total {200 - LIMIT + 1}.0" in metrics
