"""The failover chain's validator and the links' health: pure, tested directly."""

from __future__ import annotations

import pytest

from tocsin.failover import FailoverPolicy, FailoverSettings, apply_failover_update, links_of
from tocsin.outbox.chain import ChainHealth
from tocsin.outbox.model import Priority
from tocsin.secret import Secret
from tocsin.settings import EmailSettings

PRIMARY = EmailSettings(enabled=True, host="mail.example.com", sender_address="a@example.com")
LINK = {"host": "backup.example.net", "port": 587, "username": "u", "password": "s3cret"}


def test_a_link_is_validated_like_the_primary_and_keeps_its_password() -> None:
    chain, report = apply_failover_update(
        FailoverSettings(), {"enabled": True, "links": [LINK]}, primary=PRIMARY
    )
    assert report.ok, report.errors
    (link,) = chain.links
    assert link.password == Secret("s3cret")
    assert link.sender_address == ""  # follows the primary's
    assert links_of(PRIMARY, chain)[1].sender_address == "a@example.com"
    again, report = apply_failover_update(chain, {"links": [{"port": 2525}]}, primary=PRIMARY)
    assert report.ok
    assert again.links[0].password == Secret("s3cret")  # left out: kept
    assert again.links[0].port == 2525
    assert "s3cret" not in repr(again.public())


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"links": [{"host": "bad host\r\nRCPT TO:<x@y>"}]}, "links.0.host", "unsafe_text"),
        ({"links": [{"port": 0}]}, "links.0.port", "invalid_number"),
        ({"links": [{"password": "x"}]}, "links.0.username", "password_without_username"),
        ({"links": [LINK] * 4}, "links", "too_many_links"),
        ({"links": "smtp"}, "links", "invalid_value"),
        ({"enabled": True}, "links", "failover_no_links"),
        ({"after_failures": 0}, "after_failures", "invalid_number"),
        ({"after_seconds": "nan"}, "after_seconds", "invalid_number"),
        ({"probe_interval": 1}, "probe_interval", "invalid_number"),
        ({"warnings_follow": "maybe"}, "warnings_follow", "invalid_bool"),
        ({"colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_bad_values_are_refused_by_field(changes: dict[str, object], field: str, code: str) -> None:
    _, report = apply_failover_update(FailoverSettings(), changes, primary=PRIMARY)
    assert not report.ok
    assert (field, code) in [(i.field, i.code) for i in report.errors]


def test_the_policy_parses_text_as_the_cli_and_form_send_it() -> None:
    chain, report = apply_failover_update(
        FailoverSettings(),
        {"after_failures": "3", "after_seconds": "30", "warnings_follow": "yes"},
        primary=PRIMARY,
    )
    assert report.ok
    assert chain.policy == FailoverPolicy(after_failures=3, after_seconds=30, warnings_follow=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_temporary_failures_put_a_link_down_at_the_threshold_and_a_probe_brings_it_back() -> None:
    clock, changes = Clock(), []
    policy = FailoverPolicy(after_failures=2, after_seconds=60, probe_interval=30)
    health = ChainHealth(2, policy, clock=clock, on_change=lambda *c: changes.append(c[:2]))
    assert health.route(Priority.ALARM).index == 0
    assert not health.failed(0, "refused", configuration=False)
    assert health.route(Priority.ALARM).index == 0  # below the threshold: stays
    assert health.failed(0, "refused", configuration=False)
    assert health.route(Priority.FIRE).index == 1
    waiting = health.route(Priority.WARNING)
    assert (waiting.index, waiting.retry_at) == (None, 1030.0)  # warnings wait
    clock.now = 1031
    assert health.route(Priority.ALARM).index == 0  # the probe
    assert health.route(Priority.ALARM).index == 1  # one probe at a time
    health.succeeded(0)
    assert health.route(Priority.SYSTEM).index == 0
    assert changes == [(0, False), (0, True)]


def test_time_alone_puts_a_link_down_and_a_configuration_problem_at_once() -> None:
    clock = Clock()
    policy = FailoverPolicy(after_failures=100, after_seconds=60, system_follow=True)
    health = ChainHealth(3, policy, clock=clock)
    assert not health.failed(0, "busy", configuration=False)
    clock.now += 61
    assert health.failed(0, "busy", configuration=False)
    assert health.failed(1, "535", configuration=True)
    assert health.route(Priority.SYSTEM).index == 2  # system mail follows when told
    assert health.route(Priority.ALARM, tried={2}).index is None
