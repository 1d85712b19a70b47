"""The minute timer: problem checks raise and clear Tocsin's own notices; summaries go out."""

from __future__ import annotations

import asyncio
import time

import pytest
from intake_support import Clock, event

from tocsin.errors import AuthFailed, Reason, Step
from tocsin.message import compose
from tocsin.outbox import DeliveryUpdate, ListFilter, NewEmail, PauseState, Status
from tocsin.outbox.tracking import RemoteState, TrackingUpdate
from tocsin.services.context import Services
from tocsin.services.summaries import (
    DELIVERY_DELAYED,
    DELIVERY_PAUSED,
    EMAIL_UNDELIVERED,
    ProblemCheck,
    delivery_delay_check,
    engine_check,
    outbox_pause_notifier,
    raise_system_event,
    run_summaries,
    tick,
    undelivered_check,
)


def _subjects(services: Services) -> list[str]:
    return [d.subject for d in reversed(services.store.list_deliveries(ListFilter()))]


def test_a_check_raises_once_and_clears_when_the_problem_is_gone(services: Services) -> None:
    problems: dict[str, str] = {"relay_unreachable": "The relay cannot be reached.\nCheck DNS."}
    check = ProblemCheck(frozenset({"relay_unreachable"}), lambda: dict(problems))
    first = tick(services, checks=[check])
    assert first.raised == ("relay_unreachable",)
    assert tick(services, checks=[check]).raised == ()  # still open: nothing new
    problems.clear()
    assert tick(services, checks=[check]).cleared == ("relay_unreachable",)
    assert tick(services, checks=[check]).cleared == ()
    # Alice (system email on) got the notice and, threaded, the "resolved" one.
    subjects = _subjects(services)
    assert subjects[0].startswith("[SYSTEM] Tocsin: relay_unreachable – The relay cannot")
    assert subjects[1].startswith("[BEHOBEN] Tocsin: relay_unreachable")
    assert len(subjects) == 2


def test_a_check_does_not_clear_problems_it_does_not_watch(services: Services) -> None:
    raise_system_event(services, "disk_full", "The disk is full.")
    tick(services, checks=[ProblemCheck(frozenset({"other"}), dict)])
    assert "disk_full" in services.events.open_system_problems()


def test_delivery_delay_is_a_problem_only_while_email_is_enabled(services: Services) -> None:
    mail = compose(sender="alarm@example.com", to=["x@example.net"], subject="s", text="t")
    with services.store.transaction() as tx:
        tx.enqueue(NewEmail.of(mail), now=time.time() - 3600)
    check = delivery_delay_check(services, threshold=900)
    assert check.current() == {}  # email is disabled: waiting is what the admin chose
    services.settings.update({"enabled": True, "host": "127.0.0.1"})
    (text,) = check.current().values()
    assert "failing for 60 minutes; 1 emails are waiting" in text
    assert set(check.current()) == {DELIVERY_DELAYED}


def _ended(services: Services, to: str, status: Status, error: str, *, at: float) -> int:
    """An email to ``to`` whose one delivery ended with ``status`` at ``at``."""
    mail = compose(sender="alarm@example.com", to=[to], subject="Fire", text="!")
    with services.store.transaction() as tx:
        tx.enqueue(NewEmail.of(mail), now=at)
    (claimed,) = services.store.claim(owner="t", now=at, limit=10, lease=60)
    (d,) = claimed.deliveries
    tracking = "msg_1" if status is Status.SENT else ""
    update = DeliveryUpdate(d.id, status, error=error, code=550, tracking_id=tracking)
    services.store.record([update], owner="t", now=at)
    return d.id


def test_undelivered_email_is_a_problem_for_a_day(services: Services) -> None:
    check = undelivered_check(services)
    now = time.time()
    _ended(services, "old@example.net", Status.FAILED, "rcpt_to: 550 gone", at=now - 2 * 86400)
    assert check.current() == {}  # over a day ago: no longer news
    _ended(services, "gone@example.net", Status.FAILED, "rcpt_to: 550 5.1.1 no such user", at=now)
    relayed = _ended(services, "far@example.net", Status.SENT, "", at=now)
    services.store.record_tracking(
        [TrackingUpdate(relayed, RemoteState.BOUNCED, None, "550 5.7.1 blocked", 550)], now=now
    )
    (text,) = check.current().values()
    assert text.startswith("2 emails could not be delivered in the last 24 hours.")
    assert "- gone@example.net: failed: rcpt_to: 550 5.1.1 no such user" in text
    assert "- far@example.net: the online service reports bounced: 550 5.7.1 blocked" in text
    assert "old@example.net" not in text

    report = tick(services, checks=(check,))
    assert report.raised == (EMAIL_UNDELIVERED,)
    assert tick(services, checks=(check,)).raised == ()  # one notice while it lasts
    services.outbox.retry(services.outbox.list(recipient="gone@")[0].email_id)
    services.outbox.retry(services.outbox.list(recipient="far@")[0].email_id)
    assert tick(services, checks=(check,)).cleared == (EMAIL_UNDELIVERED,)


class _Engine:
    """Just what engine_check reads: the engine's pause state."""

    def __init__(self) -> None:
        self.paused: PauseState | None = None


def test_an_engine_pause_is_reported_and_cleared(services: Services) -> None:
    engine = _Engine()
    check = engine_check(engine)
    assert check.current() == {}
    error = AuthFailed("authentication failed", step=Step.AUTH, reason=Reason.AUTH_FAILED, code=535)
    engine.paused = PauseState("auth_failed", str(error), time.time(), error)
    assert tick(services, checks=[check]).raised == (DELIVERY_PAUSED,)
    engine.paused = PauseState("disabled", "email is disabled", 0.0)  # on purpose: no problem
    assert tick(services, checks=[check]).cleared == (DELIVERY_PAUSED,)


async def test_the_pause_notifier_reports_from_the_event_loop(services: Services) -> None:
    notify = outbox_pause_notifier(services)
    notify(AuthFailed("authentication failed", step=Step.AUTH, reason=Reason.AUTH_FAILED, code=535))
    for _ in range(100):
        if DELIVERY_PAUSED in services.events.open_system_problems():
            break
        await asyncio.sleep(0.02)
    assert DELIVERY_PAUSED in services.events.open_system_problems()
    notify(
        AuthFailed("again", step=Step.AUTH, reason=Reason.AUTH_FAILED, code=535)
    )  # the same problem: no second notice
    await asyncio.sleep(0.2)
    assert sum(s.startswith("[SYSTEM]") for s in _subjects(services)) == 1


async def test_run_summaries_sends_what_an_earlier_hour_held(
    services: Services, clock: Clock
) -> None:
    clock.now = time.time() - 7200
    warm = event(category="always", group="server-room")
    held = [(await asyncio.to_thread(services.events.submit, warm))[0].held for _ in range(4)]
    assert held == [0, 0, 0, 2]
    stop = asyncio.Event()
    task = asyncio.create_task(run_summaries(services, stop, interval=0.05, checks=()))
    try:
        for _ in range(200):
            if any("SUMMARY" in s for s in _subjects(services)):
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    summaries = [s for s in _subjects(services) if "SUMMARY" in s or "ZUSAMMENFASSUNG" in s]
    assert len(summaries) == 2  # one for Alice, one for Bob


def test_held_notes_of_a_deleted_or_disabled_user_are_dropped(
    services: Services, clock: Clock
) -> None:
    warm = event(category="always", group="server-room")
    for _ in range(4):
        services.events.submit(warm)
    services.sites.update_user("bob", {"enabled": False})
    services.sites.remove_user("alice")
    assert tick(services, clock.now + 3600, checks=()).summaries == 0
    counts = services.store.counts()
    assert counts[Status.QUEUED] == 6  # the three sent to each, nothing more


@pytest.mark.parametrize("code", ["", "Bad Code", "x" * 65, "a\nb"])
def test_problem_codes_are_checked(services: Services, code: str) -> None:
    with pytest.raises(ValueError, match="problem code"):
        raise_system_event(services, code, "text")
