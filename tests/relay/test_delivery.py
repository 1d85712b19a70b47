"""The relay's outbound transport against in-process MX servers."""

from __future__ import annotations

from relay_support import SITE_SENDER

from tocsin.errors import Reason, Step
from tocsin.message import compose
from tocsin.relay.config import DeliveryOptions
from tocsin.relay.delivery import MXTransport, RateLimiter
from tocsin.relay.mx import Destination, StaticResolver, parse_destination
from tocsin.testing import SMTPTestServer, TestCA, closed_port
from tocsin.transports.base import Outcome


def transport(routes: dict[str, list[Destination]], ca: TestCA, **kw: object) -> MXTransport:
    options = DeliveryOptions(ca_file=str(ca.ca_path), timeout=5, deadline=10, **kw)  # type: ignore[arg-type]
    return MXTransport(
        StaticResolver(routes),
        options=options,
        ehlo_name="relay.example.com",
        sender="bounces@relay.example.com",
    )


def mail(*to: str) -> object:
    return compose(sender=SITE_SENDER, to=list(to), subject="Alarm", text="!\n")


async def test_the_next_mx_is_tried_and_connections_are_reused(ca: TestCA) -> None:
    async with SMTPTestServer(tls="starttls", ca=ca) as mx:
        with closed_port() as dead:
            routes = {
                "example.net": [Destination("localhost", dead), Destination("localhost", mx.port)]
            }
            mxt = transport(routes, ca)
            try:
                for _ in range(3):
                    result = await mxt.send(mail("a@example.net", "b@example.net"))  # type: ignore[arg-type]
                    assert result.all_accepted
            finally:
                await mxt.aclose()
    assert len(mx.messages) == 3
    assert mx.connections == 1
    assert all(m.tls and m.helo == "relay.example.com" for m in mx.messages)


async def test_one_bad_domain_does_not_stop_the_others(ca: TestCA) -> None:
    async with (
        SMTPTestServer(tls="starttls", ca=ca) as good,
        SMTPTestServer(tls="starttls", ca=ca, offer_starttls=False) as plain,
        SMTPTestServer(tls="starttls", server_context=ca.untrusted_server_context()) as forged,
    ):
        routes = {
            "example.net": [Destination("localhost", good.port)],
            "plain.example.net": [Destination("localhost", plain.port)],
            "forged.example.net": [Destination("localhost", forged.port)],
        }
        mxt = transport(routes, ca)
        try:
            result = await mxt.send(
                mail(
                    "a@example.net",
                    "b@plain.example.net",
                    "c@forged.example.net",
                    "d@nowhere.example.org",
                )  # type: ignore[arg-type]
            )
        finally:
            await mxt.aclose()
    by = {r.recipient: r for r in result.recipients}
    assert by["a@example.net"].outcome is Outcome.ACCEPTED
    assert (by["b@plain.example.net"].outcome, by["b@plain.example.net"].reason) == (
        Outcome.PERMANENT,
        Reason.TLS_REQUIRED,
    )
    assert by["b@plain.example.net"].step is Step.STARTTLS
    assert by["c@forged.example.net"].reason is Reason.CERT_INVALID
    assert by["d@nowhere.example.org"].step is Step.RESOLVE
    assert plain.messages == []
    assert forged.messages == []
    assert len(good.messages) == 1


async def test_all_mx_down_is_temporary(ca: TestCA) -> None:
    with closed_port() as dead:
        mxt = transport({"example.net": [Destination("127.0.0.1", dead)]}, ca)
        try:
            result = await mxt.send(mail("a@example.net"))  # type: ignore[arg-type]
        finally:
            await mxt.aclose()
    assert result.recipients[0].outcome is Outcome.TEMPORARY
    assert result.recipients[0].reason is Reason.CONNECT_REFUSED


def test_rate_limiter_and_destinations() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 2, clock=lambda: now[0])
    assert limiter.reserve(1.0) == 0.0
    assert limiter.reserve(1.0) == 0.0
    assert limiter.reserve(1.0) == 0.5  # the third waits for the refill
    assert limiter.reserve(0.5) is None  # a fourth would wait 1 s: back to the queue
    assert parse_destination("mx.example.net") == Destination("mx.example.net", 25)
    assert parse_destination("[::1]:2525") == Destination("::1", 2525)
    assert parse_destination("localhost:587") == Destination("localhost", 587)
