"""Quiet hours in the services, on SQLite and PostgreSQL: escalation skips a quiet step,
reminders pass a quiet user by, a summary waits for the end of quiet hours unless it holds
a fire alarm; and the per-group choice that warnings carry an acknowledge link (issue 13).

The clock is the intake's (``clock`` fixture): 2026-05-03 03:01 UTC, a Sunday, 05:01 in
Berlin — inside a 22:00–07:00 window.
"""

from __future__ import annotations

import copy
import re
from email.message import EmailMessage

import pytest
from intake_support import SITE, Clock, event, queued

from tocsin.ack import AckVia
from tocsin.escalation import EscalationPolicy, EscalationStep
from tocsin.model import Category
from tocsin.services.acknowledge import AckRefused
from tocsin.services.context import Services
from tocsin.services.escalation import EscalationService
from tocsin.services.inputs import InputRefused
from tocsin.services.summaries import send_summaries

MINUTE = 60.0
NIGHTS = ["mon-sun 22:00-07:00"]
ALWAYS_QUIET = ["mon-sun 00:00-00:00"]
ERIN = {"id": "erin", "name": "Erin", "email": "erin@example.de", "groups": []}
ARMED = EscalationPolicy(
    categories=frozenset({Category.ARMED, Category.FIRE}),
    steps=(EscalationStep(5, ("carol",)), EscalationStep(15, ("erin",))),
)


@pytest.fixture
def site(backend: Services, clock: Clock) -> Services:
    site = copy.deepcopy(SITE)
    site["users"].append(ERIN)
    assert backend.sites.import_site(site).applied
    backend.escalation = EscalationService(
        backend.store,
        sites=backend.sites,
        events=backend.events,
        outbox=backend.outbox,
        clock=clock,
    )
    backend.escalation.set_policy("site", ARMED)
    return backend


def _to(services: Services, recipient: str) -> list[EmailMessage]:
    return [m for r, m in queued(services) if r == recipient]


def _armed(services: Services, **overrides: object) -> str:
    body = event(group="office", category="armed", device="Door 1", sensor="contact")
    (accepted,) = services.events.submit({**body, **overrides})
    return accepted.id


def test_a_quiet_step_is_skipped_and_the_next_comes_at_once(site: Services, clock: Clock) -> None:
    site.sites.update_user("carol", {"quiet_hours": ALWAYS_QUIET})
    _armed(site)
    assert len(_to(site, "alice@example.com")) == 1  # Alice is awake (no quiet hours)
    clock.now += 5 * MINUTE  # step 1: Carol, who is quiet
    site.escalation.fire_due()
    assert _to(site, "carol@example.org") == []
    assert _to(site, "erin@example.de") == []
    site.escalation.fire_due()  # step 2 is due now, not 10 minutes later
    (erin,) = _to(site, "erin@example.de")
    assert erin["Subject"].startswith("[")
    clock.now += 10 * MINUTE
    site.escalation.fire_due()
    assert len(_to(site, "erin@example.de")) == 1  # fired once


def test_when_everyone_routing_chose_is_quiet_the_first_step_comes_at_once(
    site: Services, clock: Clock
) -> None:
    site.sites.update_user("alice", {"quiet_hours": NIGHTS})  # 05:01 in Berlin: quiet
    (accepted,) = site.events.submit(
        event(group="office", category="armed", device="Door 1", sensor="contact")
    )
    assert (accepted.notified, accepted.held) == (0, 1)
    assert _to(site, "carol@example.org") == []
    site.escalation.fire_due()  # no five minutes' wait
    assert len(_to(site, "carol@example.org")) == 1


def test_a_fire_alarm_escalates_to_a_quiet_user_all_the_same(site: Services, clock: Clock) -> None:
    site.sites.update_user("carol", {"quiet_hours": ALWAYS_QUIET})
    site.events.submit(event(group="building-a"))  # a fire: Alice and Bob are told
    clock.now += 5 * MINUTE
    site.escalation.fire_due()
    assert len(_to(site, "carol@example.org")) == 1
    clock.now += 1 * MINUTE
    site.escalation.fire_due()
    assert _to(site, "erin@example.de") == []  # step 2 keeps its own time


def test_reminders_pass_a_quiet_user_by(site: Services, clock: Clock) -> None:
    policy = EscalationPolicy(categories=frozenset({Category.ARMED}), remind_every=5, remind_max=2)
    site.escalation.set_policy("site", policy)
    _armed(site)
    assert len(_to(site, "alice@example.com")) == 1
    site.sites.update_user("alice", {"quiet_hours": ALWAYS_QUIET})
    clock.now += 5 * MINUTE
    assert site.escalation.fire_due().emails == 0  # Alice is quiet: no reminder, none later
    site.sites.update_user("alice", {"quiet_hours": []})
    clock.now += 5 * MINUTE
    assert site.escalation.fire_due().emails == 1
    assert len(_to(site, "alice@example.com")) == 2


def test_a_summary_waits_for_the_end_unless_it_holds_a_fire_alarm(
    site: Services, clock: Clock
) -> None:
    site.sites.update_user("alice", {"quiet_hours": NIGHTS})
    site.sites.update_group("office", {"policies": {"fire": {"max_per_hour": 1}}})
    warning = event(group="office", category="always", severity="warning", device="Fridge")
    site.events.submit(warning)  # held: quiet hours
    assert send_summaries(site, clock.now + 3600) == (0, 0)  # an hour on: still quiet
    site.events.submit(event(group="office"))  # a fire: through (Alice, Carol)
    site.events.submit(event(group="office", device="Smoke detector 3"))  # capped: held
    assert len(_to(site, "alice@example.com")) == 1
    # The next hour, 06:01 in Berlin: the summary holds a fire alarm, so it goes now.
    assert send_summaries(site, clock.now + 3600) == (2, 3)  # Alice (2 events), Carol (1)


def test_the_summary_says_quiet_hours_in_the_users_language(site: Services, clock: Clock) -> None:
    site.sites.update_user("alice", {"quiet_hours": NIGHTS})
    site.events.submit(event(group="office", category="always", severity="warning"))
    clock.now += 2 * 3600  # 07:01 in Berlin
    assert send_summaries(site, clock.now) == (1, 1)
    (summary,) = _to(site, "alice@example.com")
    body = summary.get_body(("plain",))
    assert body is not None
    assert "Ruhezeit" in body.get_content()


LINK = re.compile(r"https://tocsin\.example\.com/ack/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_warnings_carry_an_ack_link_where_the_group_asks(site: Services) -> None:
    site.public_url.save("https://tocsin.example.com")
    warning = {"group": "office", "category": "always", "severity": "warning"}
    (first,) = site.events.submit(event(**warning))
    assert not LINK.search(_text(_to(site, "alice@example.com")[-1]))
    with pytest.raises(AckRefused):
        site.acks.acknowledge(first.id, by="Anna", via=AckVia.API)
    site.sites.update_group("site", {"ack_warnings": True})  # inherited by the office
    assert site.sites.group_dict(site.sites.group("office"))["effective_ack_warnings"] is True
    (second,) = site.events.submit(event(**warning, device="Smoke detector 3"))
    assert LINK.search(_text(_to(site, "alice@example.com")[-1]))
    assert site.acks.acknowledge(second.id, by="Anna", via=AckVia.API).new
    site.sites.update_group("office", {"ack_warnings": False})  # the office says no again
    site.events.submit(event(**warning, device="Smoke detector 4"))
    assert not LINK.search(_text(_to(site, "alice@example.com")[-1]))
    with pytest.raises(InputRefused) as refused:
        site.sites.update_group("office", {"ack_warnings": "maybe"})
    assert [(i.field, i.code) for i in refused.value.issues] == [("ack_warnings", "field_type")]


def test_a_test_alarm_to_a_quiet_user_is_refused_saying_why(site: Services) -> None:
    site.settings.update({"enabled": True, "host": "127.0.0.1"})
    site.sites.update_user("bob", {"quiet_hours": ALWAYS_QUIET, "categories": ["always"]})
    with pytest.raises(InputRefused) as refused:
        site.events.send_test_alarm("bob")
    (issue,) = refused.value.issues
    assert issue.code == "test_alarm_quiet"
    assert "quiet hours" in issue.text("en")
    assert "Ruhezeit" in issue.text("de")
