"""The relay's HTTPS API met by the appliance's online transport (and by plain httpx)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from relay_support import SITE_SENDER, InProcessRelay, online_settings, serve_options

from tocsin.errors import AuthFailed, ConfigError, MessageRejected, SenderRejected
from tocsin.message import Mail, compose
from tocsin.relay.mx import Destination, StaticResolver
from tocsin.relay.records import Device
from tocsin.relay.service import RelayService
from tocsin.secret import Secret
from tocsin.settings import EmailSettings
from tocsin.testing import SMTPTestServer, TestCA
from tocsin.transports.base import Outcome
from tocsin.transports.online import OnlineTransport, RelayBusy


@pytest.fixture
def relay(service: RelayService, relay_cert: Path) -> Iterator[InProcessRelay]:
    """API only: nothing is delivered, so statuses stay queued."""
    running = InProcessRelay(service, serve_options(relay_cert, worker=False)).start()
    yield running
    running.stop()


def alarm(*to: str, sender: str = SITE_SENDER) -> Mail:
    return compose(sender=sender, to=list(to) or ["ops@example.net"], subject="Fire", text="!\n")


async def test_a_submission_is_accepted_and_its_status_readable(
    relay: InProcessRelay, device: tuple[str, Device], ca: TestCA
) -> None:
    transport = OnlineTransport(online_settings(relay, device[0], ca.ca_path))
    try:
        mail = alarm("ops@example.net", "boss@example.net")
        result = await transport.send(mail)
        assert result.all_accepted
        assert result.server_reply.startswith("202 queued as msg_")
        public_id = result.server_reply.rpartition(" ")[2]
        again = await transport.send(mail)  # a retry after a lost answer: same submission
        assert again.server_reply == result.server_reply
        status = await transport.status(public_id)
        assert status["message_id"] == mail.message_id
        assert [r["status"] for r in status["recipients"]] == ["queued", "queued"]
        info = await transport.device()
        assert info.name == "site-1"
        assert info.senders == ("@site.example.org",)
    finally:
        await transport.aclose()


async def test_wrong_and_revoked_credentials_get_401(
    relay: InProcessRelay, device: tuple[str, Device], ca: TestCA, service: RelayService
) -> None:
    wrong = OnlineTransport(online_settings(relay, "tcr_wrong", ca.ca_path))
    right = OnlineTransport(online_settings(relay, device[0], ca.ca_path))
    try:
        with pytest.raises(AuthFailed) as caught:
            await wrong.send(alarm())
        assert caught.value.code == 401
        await right.send(alarm())
        assert service.revoke_device("site-1")
        with pytest.raises(AuthFailed):
            await right.send(alarm())  # revoked takes effect at once
    finally:
        await wrong.aclose()
        await right.aclose()


async def test_over_quota_gets_429_with_retry_after(
    relay: InProcessRelay, service: RelayService, ca: TestCA
) -> None:
    credential, _ = service.add_device("tiny", ["@site.example.org"], quota_per_hour=360, burst=2)
    transport = OnlineTransport(online_settings(relay, credential, ca.ca_path))
    try:
        await transport.send(alarm("a@example.net"))
        await transport.send(alarm("b@example.net"))
        with pytest.raises(RelayBusy) as caught:
            await transport.send(alarm("c@example.net"))
        assert caught.value.code == 429
        assert caught.value.retry_after == pytest.approx(10.0, abs=1)  # 360/h: one every 10 s
    finally:
        await transport.aclose()


async def test_a_sender_the_device_may_not_use_gets_403(
    relay: InProcessRelay, device: tuple[str, Device], ca: TestCA
) -> None:
    transport = OnlineTransport(online_settings(relay, device[0], ca.ca_path))
    try:
        with pytest.raises(SenderRejected) as caught:
            await transport.send(alarm(sender="ceo@bank.example.com"))
        assert caught.value.code == 403
    finally:
        await transport.aclose()


async def test_too_large_and_malformed_are_refused(
    relay: InProcessRelay, service: RelayService, ca: TestCA
) -> None:
    credential, _ = service.add_device("small", ["@site.example.org"], max_size=2000)
    transport = OnlineTransport(online_settings(relay, credential, ca.ca_path))
    try:
        big = compose(sender=SITE_SENDER, to=["a@example.net"], subject="x", text="y" * 5000)
        with pytest.raises(MessageRejected) as caught:
            await transport.send(big)
        assert caught.value.code == 413
    finally:
        await transport.aclose()
    async with httpx.AsyncClient(verify=ca.client_context()) as client:
        headers = {"Authorization": f"Bearer {credential}"}
        bad = await client.post(
            f"{relay.api_url}/v1/messages",
            headers=headers,
            json={"from": SITE_SENDER, "to": [], "subject": "x", "text": "y"},
        )
        assert bad.status_code == 422
        ok = await client.post(
            f"{relay.api_url}/v1/messages",
            headers=headers,
            json={
                "from": SITE_SENDER,
                "to": ["a@example.net"],
                "subject": "Structured",
                "text": "y",
            },
        )
        assert ok.status_code == 202
        assert ok.headers["Location"] == ok.json()["status_url"]
        twice = await client.post(
            f"{relay.api_url}/v1/messages",
            headers={**headers, "Content-Type": "application/json"},
            content=b'{"from": "%s", "to": ["a@example.net"], "subject": "x", "text": "y", '
            b'"to": ["b@example.net"]}' % SITE_SENDER.encode(),
        )
        assert twice.status_code == 422
        assert "'to' appears twice" in twice.text
        other = await client.get(f"{relay.api_url}/v1/messages/msg_nope", headers=headers)
        assert other.status_code == 404
        anonymous = await client.get(f"{relay.api_url}/v1/device")
        assert anonymous.status_code == 401
        assert "Bearer" in anonymous.headers["WWW-Authenticate"]


def test_plain_http_is_refused_except_to_loopback() -> None:
    settings = EmailSettings(relay_url="http://relay.example.com", device_credential=Secret("x"))
    with pytest.raises(ConfigError, match="loopback"):
        OnlineTransport(settings)


async def test_an_untrusted_relay_certificate_is_a_tls_failure(
    relay: InProcessRelay, device: tuple[str, Device]
) -> None:
    from tocsin.errors import TLSFailed

    with TestCA() as stranger:  # the appliance trusts another CA only
        transport = OnlineTransport(online_settings(relay, device[0], stranger.ca_path))
    try:
        with pytest.raises(TLSFailed) as caught:
            await transport.send(alarm())
        assert caught.value.reason.value == "cert_invalid"
    finally:
        await transport.aclose()


async def test_statuses_come_back_delivered_and_refused_without_starttls(
    service: RelayService, relay_cert: Path, device: tuple[str, Device], ca: TestCA
) -> None:
    """The worker delivers to an MX with STARTTLS, refuses one without, and says so."""
    async with (
        SMTPTestServer(tls="starttls", ca=ca) as good,
        SMTPTestServer(tls="starttls", ca=ca, offer_starttls=False) as plain,
    ):
        resolver = StaticResolver(
            {
                "example.net": [Destination("localhost", good.port)],
                "plain.example.net": [Destination("localhost", plain.port)],
            }
        )
        relay = InProcessRelay(service, serve_options(relay_cert, resolver=resolver)).start()
        transport = OnlineTransport(online_settings(relay, device[0], ca.ca_path))
        try:
            result = await transport.send(alarm("ops@example.net", "ops@plain.example.net"))
            public_id = result.server_reply.rpartition(" ")[2]
            final = {"sent", "failed", "dead"}
            for _ in range(200):
                status = await transport.status(public_id)
                if all(r["status"] in final for r in status["recipients"]):
                    break
                await asyncio.sleep(0.05)
            by = {r["recipient"]: r for r in status["recipients"]}
            assert by["ops@example.net"]["status"] == "sent"
            assert by["ops@plain.example.net"]["status"] == "failed"
            assert by["ops@plain.example.net"]["reason"] == "tls_required"
            assert by["ops@plain.example.net"]["step"] == "starttls"
            assert len(good.messages) == 1
            assert plain.messages == []
            assert not any(c.upper().startswith(("MAIL", "AUTH")) for c in plain.commands)
        finally:
            await transport.aclose()
            await relay.astop()
    assert result.recipients[0].outcome is Outcome.ACCEPTED
