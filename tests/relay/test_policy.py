"""Pure decisions of the relay and the appliance side: policy, quota, rewrite, HTTP table."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from relay_support import RELAY_DOMAIN, dkim_verifies

from tocsin.errors import (
    AuthFailed,
    ConfigurationProblem,
    MessageRejected,
    Reason,
    SenderRejected,
    ServerRejected,
    TemporaryFailure,
)
from tocsin.message import compose
from tocsin.relay.dkim_signer import DKIMKey
from tocsin.relay.errors import InvalidSubmission
from tocsin.relay.policy import BucketState, normalise_sender_rule, sender_allowed, take_tokens
from tocsin.relay.rewrite import SigningPolicy, prepare, split_header_block
from tocsin.settings import relay_url_problem
from tocsin.transports.online import RelayBusy, error_for_status


@pytest.mark.parametrize(
    ("sender", "allowed"),
    [
        ("alarm@site.example.org", True),
        ("Other@SITE.example.org", True),
        ("alarm@sub.site.example.org", False),  # subdomains are not the domain
        ("alarm@evil.example", False),
        ("boss@hq.example.com", True),
        ("Boss@hq.example.com", False),  # local parts are case-sensitive (RFC 5321 §2.4)
        ("not an address", False),
    ],
)
def test_sender_rules(sender: str, allowed: bool) -> None:
    rules = [
        normalise_sender_rule("site.example.org"),
        normalise_sender_rule("boss@HQ.example.com"),
    ]
    assert rules == ["@site.example.org", "boss@hq.example.com"]
    assert sender_allowed(sender, rules) is allowed


def test_a_bad_sender_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="neither"):
        normalise_sender_rule("no spaces allowed.example")


def test_the_bucket_allows_a_burst_then_refills_at_the_hourly_rate() -> None:
    state = BucketState(tokens=3.0, at=0.0)
    for _ in range(3):
        state, wait = take_tokens(state, cost=1, now=0.0, quota_per_hour=3600, burst=3)
        assert wait == 0.0
    _, wait = take_tokens(state, cost=1, now=0.0, quota_per_hour=3600, burst=3)
    assert wait == pytest.approx(1.0)  # 3600/h is one per second
    state, wait = take_tokens(state, cost=1, now=1.0, quota_per_hour=3600, burst=3)
    assert wait == 0.0
    _, never = take_tokens(state, cost=4, now=1.0, quota_per_hour=3600, burst=3)
    assert never == math.inf


@given(
    costs=st.lists(st.integers(1, 5), max_size=60),
    quota=st.integers(1, 10_000),
    burst=st.integers(1, 50),
    step=st.floats(0, 10),
)
def test_the_bucket_never_gives_more_than_burst_plus_refill(
    costs: list[int], quota: int, burst: int, step: float
) -> None:
    state, now, taken = BucketState(float(burst), 0.0), 0.0, 0
    for cost in costs:
        now += step
        state, wait = take_tokens(state, cost=cost, now=now, quota_per_hour=quota, burst=burst)
        if wait == 0:
            taken += cost
        assert 0 <= state.tokens <= burst
    assert taken <= burst + now * quota / 3600 + 1e-6


def _policy(key: DKIMKey, *signed: str) -> SigningPolicy:
    keys = {RELAY_DOMAIN: key} | {d: DKIMKey(d, key.selector, key.private_key) for d in signed}
    return SigningPolicy(keys, f"alerts@{RELAY_DOMAIN}", "relay.example.com")


def test_a_foreign_from_is_aligned_to_the_relay_with_reply_to_and_signed(dkim_key: DKIMKey) -> None:
    mail = compose(
        sender="alarm@site.example.org",
        sender_name="Server room A",
        to=["ops@example.net"],
        subject="Fire",
        text="Smoke\n",
    )
    raw = mail.content.replace(b"Subject:", b"Bcc: secret@example.net\r\nSubject:", 1)
    prepared = prepare(
        raw, policy=_policy(dkim_key), received_from="site-1", via="HTTPS", queue_id="msg_1"
    )
    fields, body = split_header_block(prepared.content)
    names = [f.split(b":")[0].lower() for f in fields]
    assert names[:2] == [b"dkim-signature", b"received"]
    assert b"bcc" not in names
    header = b"".join(fields)
    assert b'From: "Server room A (alarm@site.example.org)" <alerts@relay.example.com>' in header
    assert b"Reply-To: alarm@site.example.org" in header
    assert prepared.rewritten
    assert prepared.signed_by == RELAY_DOMAIN
    assert prepared.message_id == mail.message_id
    assert body == split_header_block(mail.content)[1]  # the body is sent as submitted
    assert dkim_verifies(prepared.content, dkim_key)


def test_a_signed_domain_keeps_its_from_and_its_own_signature(dkim_key: DKIMKey) -> None:
    mail = compose(sender="alarm@site.example.org", to=["ops@example.net"], subject="x", text="y")
    policy = _policy(dkim_key, "site.example.org")
    prepared = prepare(mail.content, policy=policy, received_from="d", via="HTTPS", queue_id="q")
    assert not prepared.rewritten
    assert prepared.signed_by == "site.example.org"
    assert dkim_verifies(prepared.content, policy.keys["site.example.org"])
    assert b"Reply-To" not in prepared.content


@pytest.mark.parametrize(
    "raw",
    [
        b"no headers at all",
        b"Subject: x\r\n\r\nno from",
        b"From: a@x.example.org, b@x.example.org\r\n\r\n",
    ],
)
def test_messages_without_one_from_are_refused(raw: bytes, dkim_key: DKIMKey) -> None:
    with pytest.raises(InvalidSubmission):
        prepare(raw, policy=_policy(dkim_key), received_from="d", via="HTTPS", queue_id="q")


@pytest.mark.parametrize(
    ("status", "kind", "reason"),
    [
        (401, AuthFailed, Reason.AUTH_FAILED),
        (403, SenderRejected, Reason.SENDER_REJECTED),
        (408, RelayBusy, Reason.TIMEOUT),
        (429, RelayBusy, Reason.RATE_LIMITED),
        (500, RelayBusy, Reason.SERVER_BUSY),
        (503, RelayBusy, Reason.SERVER_BUSY),
        (413, MessageRejected, Reason.MESSAGE_REJECTED),
        (422, MessageRejected, Reason.MESSAGE_REJECTED),
        (404, ServerRejected, Reason.SERVER_REJECTED),
        (302, ServerRejected, Reason.SERVER_REJECTED),
    ],
)
def test_the_http_table(status: int, kind: type[Exception], reason: Reason) -> None:
    error = error_for_status(status, {"message": "said"}, "7")
    assert type(error) is kind
    assert error.reason is reason
    assert error.code == status
    assert isinstance(error, ConfigurationProblem) == (status in (401, 403, 404, 302))
    assert isinstance(error, TemporaryFailure) == (status in (408, 429, 500, 503))
    if isinstance(error, RelayBusy):
        assert error.retry_after == 7.0


def test_retry_after_as_an_http_date() -> None:
    error = error_for_status(429, {}, "Wed, 21 Oct 2015 07:28:00 GMT")
    assert isinstance(error, RelayBusy)
    assert error.retry_after == 0.0


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://relay.example.com", True),
        ("https://relay.example.com:8443/base", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080", True),
        ("http://[::1]:8080", True),
        ("http://relay.example.com", False),  # plain HTTP off the machine
        ("http://10.0.0.5", False),
        ("ftp://relay.example.com", False),
        ("https://user:pw@relay.example.com", False),
        ("https://relay.example.com/?x=1", False),
        ("relay.example.com", False),
    ],
)
def test_relay_urls(url: str, ok: bool) -> None:
    assert (relay_url_problem(url) is None) is ok


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@relay.example.com\r\nSubject: folded\r\n   over  two\t lines \r\n\r\nbody\r\n",
        b"From: a@relay.example.com\r\nTo: x@example.net\r\nTo: y@example.net\r\n\r\n",
        b"From:a@relay.example.com\r\nSUBJECT:  odd  spacing\r\n\r\n trailing \t \r\n\r\n\r\n",
        b"From: a@relay.example.com\r\n\r\n" + b"long line " * 500 + b"\r\n",
    ],
)
def test_our_signatures_verify_with_dkimpy(raw: bytes, dkim_key: DKIMKey) -> None:
    assert dkim_verifies(dkim_key.sign(raw), dkim_key)


def test_a_changed_message_fails_verification(dkim_key: DKIMKey) -> None:
    signed = dkim_key.sign(b"From: a@relay.example.com\r\nSubject: Fire\r\n\r\nSmoke\r\n")
    assert not dkim_verifies(signed.replace(b"Smoke", b"Smile"), dkim_key)
    assert not dkim_verifies(signed.replace(b"Fire", b"Fine"), dkim_key)
    forged = signed.replace(b"Subject:", b"From: ceo@relay.example.com\r\nSubject:")
    assert not dkim_verifies(forged, dkim_key)  # From is over-signed
