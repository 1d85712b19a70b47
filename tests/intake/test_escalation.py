"""Escalation and reminders in the store and the services, on SQLite and PostgreSQL (issue 13).

Timers are rows: a settable clock moves time on (no test sleeps minutes); steps fire
once, also with two workers on PostgreSQL and across a restart; an acknowledgement or
a clear stops the escalation; escalation emails are threaded under the alarm.
"""

from __future__ import annotations

import copy
import threading
from email.message import EmailMessage
from pathlib import Path

import pytest
from intake_support import PG_URL, SITE, Clock, event, queued, set_up_site, use_clock

from tocsin.ack import AckVia
from tocsin.alarm_email import message_id_for
from tocsin.escalation import EscalationPolicy, EscalationStep, PolicyError, policy_from_dict
from tocsin.model import Category, email_id
from tocsin.services.context import Services
from tocsin.services.escalation import EscalationService
from tocsin.services.sites import NotFound
from tocsin.store.postgres import PostgresStore

MINUTE = 60.0
POLICY = EscalationPolicy(
    categories=frozenset({Category.FIRE, Category.SABOTAGE}),
    steps=(EscalationStep(5, ("carol",)), EscalationStep(15, ("erin",))),
)
ERIN = {
    "id": "erin",
    "name": "Erin",
    "email": "erin@example.de",
    "language": "de",
    "groups": [],
    "categories": [],
}


def _site() -> dict[str, object]:
    site = copy.deepcopy(SITE)
    site["users"].append(ERIN)
    return site


def _escalation(services: Services, clock: Clock) -> EscalationService:
    return EscalationService(
        services.store,
        sites=services.sites,
        events=services.events,
        outbox=services.outbox,
        clock=clock,
    )


@pytest.fixture
def site(backend: Services, clock: Clock) -> Services:
    assert backend.sites.import_site(_site()).applied
    backend.escalation = _escalation(backend, clock)
    backend.escalation.set_policy("site", POLICY)
    return backend


def _raise(services: Services, **overrides: object) -> str:
    (accepted,) = services.events.submit(event(**overrides))
    return accepted.id


def _to(services: Services, recipient: str) -> list[EmailMessage]:
    return [m for r, m in queued(services) if r == recipient]


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_each_step_fires_once_at_its_time_threaded_in_the_recipients_language(
    site: Services, clock: Clock
) -> None:
    raised_at = clock.now
    event_id = _raise(site)
    assert _to(site, "carol@example.org") == []  # carol is not in the server room's groups
    assert site.escalation.fire_due(raised_at + 5 * MINUTE - 1).fired == 0
    report = site.escalation.fire_due(raised_at + 5 * MINUTE)
    assert (report.fired, report.emails) == (1, 1)
    assert site.escalation.fire_due(raised_at + 6 * MINUTE).fired == 0  # once
    (mail,) = _to(site, "carol@example.org")
    assert mail["Subject"].startswith("[Escalated] [ALARM]") or mail["Subject"].startswith(
        "[Escalated]"
    )
    assert "Escalated: nobody acknowledged within 5 minutes" in _text(mail)
    root = message_id_for(email_id(event_id, "carol"), "example.com")
    assert mail["In-Reply-To"] == root
    assert mail["References"] == root
    assert mail["Message-ID"] != root
    state = site.escalation.state_of([event_id])[event_id]
    assert (state.steps_done, state.steps_total, state.stopped) == (1, 2, False)
    assert state.next_due_at == raised_at + 15 * MINUTE

    site.escalation.fire_due(raised_at + 15 * MINUTE)
    (german,) = _to(site, "erin@example.de")
    assert german["Subject"].startswith("[Eskaliert]")
    assert "Eskaliert: niemand hat innerhalb von 15 Minuten bestätigt" in _text(german)
    state = site.escalation.state_of([event_id])[event_id]
    assert (state.steps_done, state.next_due_at) == (2, None)


def test_escalated_users_hear_of_the_clear_threaded(site: Services, clock: Clock) -> None:
    raised_at = clock.now
    event_id = _raise(site)
    site.escalation.fire_due(raised_at + 5 * MINUTE)
    clock.now = raised_at + 6 * MINUTE
    _raise(site, state="cleared")
    clear = _to(site, "carol@example.org")[-1]
    assert clear["In-Reply-To"] == message_id_for(email_id(event_id, "carol"), "example.com")


def test_an_acknowledgement_stops_the_escalation(site: Services, clock: Clock) -> None:
    raised_at = clock.now
    event_id = _raise(site)
    site.escalation.fire_due(raised_at + 5 * MINUTE)
    clock.now = raised_at + 15 * MINUTE - 1  # a second before step 2
    site.acks.acknowledge(event_id, by="Anna", via=AckVia.CLI)
    report = site.escalation.fire_due(raised_at + 60 * MINUTE)
    assert report.fired == 0
    assert _to(site, "erin@example.de") == []
    state = site.escalation.state_of([event_id])[event_id]
    assert (state.steps_done, state.stopped, state.next_due_at) == (1, True, None)


def test_a_clear_stops_the_escalation(site: Services, clock: Clock) -> None:
    raised_at = clock.now
    event_id = _raise(site)
    clock.now = raised_at + MINUTE
    _raise(site, state="cleared")
    assert site.escalation.fire_due(raised_at + 60 * MINUTE).fired == 0
    assert _to(site, "carol@example.org") == []
    assert site.escalation.state_of([event_id])[event_id].stopped


def test_a_due_timer_of_an_alarm_acknowledged_meanwhile_is_cancelled(
    site: Services, clock: Clock
) -> None:
    """Even if the timers were not cancelled (another Tocsin wrote the ack), firing checks."""
    raised_at = clock.now
    event_id = _raise(site)
    with site.store.transaction() as tx:
        tx.runner.run(
            "INSERT INTO event_ack (event_id, acked_by, acked_at, via) VALUES (?, ?, ?, ?)",
            (event_id, "x", raised_at, "web"),
        )
    report = site.escalation.fire_due(raised_at + 60 * MINUTE)
    assert (report.fired, report.cancelled) == (0, 2)  # both steps, none sent
    assert _to(site, "carol@example.org") == []


def test_warnings_and_other_categories_never_escalate(site: Services, clock: Clock) -> None:
    raised_at = clock.now
    warning = _raise(site, severity="warning")
    always = _raise(site, category="always", device="Door")
    assert site.escalation.state_of([warning, always]) == {}
    assert site.escalation.fire_due(raised_at + 60 * MINUTE).fired == 0


def test_a_subgroup_policy_overrides_the_inherited_one(site: Services, clock: Clock) -> None:
    site.escalation.set_policy("building-a", EscalationPolicy())  # off below Building A
    assert site.escalation.effective("server-room") == ("building-a", EscalationPolicy())
    assert site.escalation.effective("office") == ("site", POLICY)
    event_id = _raise(site)
    office = _raise(site, group="office", device="Kitchen")
    assert list(site.escalation.state_of([event_id, office])) == [office]
    site.escalation.set_policy("building-a", None)
    assert site.escalation.effective("server-room") == ("site", POLICY)


def test_reminders_go_to_those_told_at_most_m_times(site: Services, clock: Clock) -> None:
    policy = policy_from_dict(
        {
            "categories": ["fire"],
            "steps": [{"after_minutes": 5, "users": ["carol"]}],
            "remind_every": 10,
            "remind_max": 2,
        }
    )
    site.escalation.set_policy("site", policy)
    raised_at = clock.now
    event_id = _raise(site)
    for minute in range(0, 61):
        site.escalation.fire_due(raised_at + minute * MINUTE)
    for who in ("alice@example.com", "bob@example.net", "carol@example.org"):
        subjects = ("[Reminder]", "[Erinnerung]")
        reminders = [m for m in _to(site, who) if m["Subject"].startswith(subjects)]
        assert len(reminders) == 2, who
        root = message_id_for(email_id(event_id, who.split("@")[0]), "example.com")
        assert all(m["In-Reply-To"] == root for m in reminders)
    assert "for 20 minutes" in _text(_to(site, "bob@example.net")[-1])
    state = site.escalation.state_of([event_id])[event_id]
    assert (state.reminders_done, state.reminders_total) == (2, 2)


def test_bad_policies_are_refused(site: Services) -> None:
    with pytest.raises(NotFound):
        site.escalation.set_policy("nowhere", POLICY)
    unknown = EscalationPolicy(
        categories=frozenset({Category.FIRE}), steps=(EscalationStep(5, ("zed",)),)
    )
    with pytest.raises(PolicyError, match="zed"):
        site.escalation.set_policy("site", unknown)
    assert site.escalation.policies() == {"site": POLICY}


def test_no_timer_fires_while_no_sender_is_set_up(site: Services, clock: Clock) -> None:
    raised_at = clock.now
    _raise(site)
    site.settings.update({"sender_address": ""})
    assert site.escalation.fire_due(raised_at + 60 * MINUTE).fired == 0


def test_a_due_timer_survives_a_restart_and_fires_once(tmp_path: Path) -> None:
    clock = Clock()
    first = Services.open(tmp_path / "data")
    use_clock(first, clock)
    set_up_site(first)
    assert first.sites.import_site(_site()).applied
    first.escalation.set_policy("site", POLICY)
    raised_at = clock.now
    event_id = _raise(first)
    first.close()  # as good as a SIGKILL for the rows: they were committed

    second = Services.open(tmp_path / "data")
    try:
        use_clock(second, clock)
        escalation = _escalation(second, clock)
        assert escalation.fire_due(raised_at + 5 * MINUTE).fired == 1
        assert escalation.fire_due(raised_at + 5 * MINUTE).fired == 0
        assert len(_to(second, "carol@example.org")) == 1
        assert escalation.state_of([event_id])[event_id].steps_done == 1
    finally:
        second.close()


@pytest.mark.postgres
def test_two_workers_on_postgresql_fire_each_step_once(
    pg: Services, clock: Clock, tmp_path: Path
) -> None:
    assert pg.sites.import_site(_site()).applied
    assert isinstance(pg.store, PostgresStore)
    other = Services(
        data=pg.data,
        store=PostgresStore(PG_URL, schema=pg.store.schema),
        box=pg.box,
        settings=pg.settings,
        accounts=pg.accounts,
        outbox=pg.outbox,
    )
    try:
        workers = [_escalation(pg, clock), _escalation(other, clock)]
        workers[0].set_policy("site", POLICY)
        raised_at = clock.now
        event_ids = [_raise(pg, device=f"Detector {n}") for n in range(20)]
        start = threading.Barrier(2)
        reports = []

        def run(worker: EscalationService) -> None:
            start.wait()
            for minute in (5, 5, 15, 15):
                reports.append(worker.fire_due(raised_at + minute * MINUTE))

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sum(r.fired for r in reports) == 40  # 20 alarms x 2 steps, once each
        assert len(_to(pg, "carol@example.org")) == 20
        assert len(_to(pg, "erin@example.de")) == 20
        states = workers[1].state_of(event_ids)
        assert all(s.steps_done == 2 for s in states.values())
    finally:
        other.store.close()


def _submit_counting_policy_reads(services: Services, devices: list[str]) -> tuple[list[str], int]:
    """Submit one request of alarms from ``devices``; (their ids, policy reads it made)."""
    conn = services.store._conn  # type: ignore[attr-defined]
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        accepted = services.events.submit({"events": [event(device=d) for d in devices]})
    finally:
        conn.set_trace_callback(None)
    return [a.id for a in accepted], sum("FROM escalation_policy" in s for s in statements)


def test_the_policies_are_read_with_the_site_not_per_alarm(
    services: Services, clock: Clock
) -> None:
    assert services.sites.import_site(_site()).applied
    services.escalation = _escalation(services, clock)
    services.escalation.set_policy("site", POLICY)
    # The first request after the change reads them once, with the site (issue 11) ...
    first, reads = _submit_counting_policy_reads(
        services, [f"Smoke detector {i}" for i in range(3)]
    )
    assert reads == 1
    # ... and the next one not at all: the site has not changed since.
    second, reads = _submit_counting_policy_reads(services, ["Smoke detector 9"])
    assert reads == 0
    # Every alarm still has its timers.
    states = services.escalation.state_of(first + second)
    assert [states[i].steps_total for i in first + second] == [2, 2, 2, 2]


def test_a_policy_set_by_another_process_applies_to_the_next_alarm(tmp_path: Path) -> None:
    """Each process keeps the policies with its cached site; a change elsewhere (the
    CLI, another worker) counts as a site change, so no process acts on old ones."""
    clock = Clock()
    serve = Services.open(tmp_path / "data")
    other = Services.open(tmp_path / "data")
    try:
        for services in (serve, other):
            use_clock(services, clock)
        set_up_site(serve)
        assert serve.sites.import_site(_site()).applied
        before = _raise(serve)  # the site, without a policy, is now cached in serve
        assert serve.escalation.state_of([before]) == {}
        _escalation(other, clock).set_policy("site", POLICY)
        after = _raise(serve, device="Detector 2")
        assert serve.escalation.state_of([after])[after].steps_total == 2
        assert serve.escalation.effective("server-room") == ("site", POLICY)
        _escalation(other, clock).set_policy("site", None)
        last = _raise(serve, device="Detector 3")
        assert serve.escalation.state_of([last]) == {}
        assert serve.escalation.effective("server-room") is None
    finally:
        other.close()
        serve.close()
