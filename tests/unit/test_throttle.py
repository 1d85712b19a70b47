"""The failure throttle: keys per client address, and memory bounded under a spray."""

from __future__ import annotations

import pytest

from tocsin.security import LoginThrottle, client_key


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.5", "client:203.0.113.5"),
        ("2001:db8:1:2:aaaa::1", "client:2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "client:2001:db8:1:2::/64"),
        ("::ffff:203.0.113.5", "client:203.0.113.5"),
        ("testclient", "client:testclient"),
    ],
)
def test_a_client_is_keyed_by_its_address_and_an_ipv6_one_by_its_64(address: str, key: str) -> None:
    assert client_key(address) == key


def test_guesses_from_one_ipv6_64_count_together() -> None:
    throttle = LoginThrottle(limit=3, window=60.0)
    for host in range(3):  # one host, a new address per guess
        throttle.failed(client_key(f"2001:db8::{host + 1}"), now=0.0)
    assert throttle.retry_after(client_key("2001:db8::ffff"), now=1.0) > 0
    assert throttle.retry_after(client_key("2001:db8:0:1::1"), now=1.0) == 0


def test_a_spray_of_addresses_keeps_memory_bounded_and_the_newest_limited() -> None:
    throttle = LoginThrottle(limit=2, window=60.0)
    for n in range(30_000):  # all within the window: none is stale
        throttle.failed(f"client:10.{n >> 16}.{(n >> 8) & 255}.{n & 255}", now=float(n) / 1000)
    assert throttle.tracked <= 10_001
    newest = "client:10.0.117.47"  # n = 29999
    throttle.failed(newest, now=30.0)
    assert throttle.retry_after(newest, now=30.0) > 0
