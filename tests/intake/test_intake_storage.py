"""The intake and the site store, run against SQLite and PostgreSQL alike (conformance)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from intake_support import SITE, Clock, event, stored_counts

from helpers import pipeline_syncs
from tocsin.model import AlarmGroup, Category, Event, NotificationStatus, Severity, State, User
from tocsin.outbox import ListFilter
from tocsin.services.context import Services
from tocsin.services.inputs import InputRefused
from tocsin.services.summaries import clear_system_event, raise_system_event, tick
from tocsin.store.events_sql import EventSQL
from tocsin.store.postgres import PostgresStore


def _statuses(services: Services, event_id: str) -> dict[str, str]:
    record = services.events.get(event_id)
    assert record is not None
    return {n.user_id: n.status for n in record.notifications}


def test_the_site_round_trips(backend: Services) -> None:
    exported = backend.sites.export_site()
    assert [g["id"] for g in exported["groups"]] == ["site", "building-a", "server-room", "office"]
    assert exported["groups"][1]["policies"] == SITE["groups"][1]["policies"]
    alice = next(u for u in exported["users"] if u["id"] == "alice")
    assert alice["time_zone"] == "Europe/Berlin"
    assert alice["language"] == "de"
    report = backend.sites.import_site(exported)
    assert report.unchanged == len(SITE["groups"]) + len(SITE["users"])
    assert not (report.added_groups)
    assert not (report.changed_users)
    assert not (report.removed_users)


def test_site_changes_are_seen_by_the_cached_view(backend: Services) -> None:
    before = backend.sites.view()
    assert backend.sites.view() is before  # nothing changed: the cache answers
    backend.sites.update_user("carol", {"categories": ["fire", "always"]})
    after = backend.sites.view()
    assert after.version > before.version
    assert Category.ALWAYS in after.user("carol").email_categories  # type: ignore[union-attr]


def test_another_process_changing_the_site_invalidates_the_cache(backend: Services) -> None:
    view = backend.sites.view()
    with backend.store.site_writing() as sql:  # as the CLI in another process would
        sql.put_user(
            User(
                id="erin",
                name="Erin",
                email="erin@example.com",
                group_ids=frozenset({"site"}),
                email_categories=frozenset({Category.FIRE}),
            ),
            now=1.0,
        )
    accepted = backend.events.submit(event(group="office"))
    assert accepted[0].notified == 3  # alice, carol and the new erin
    assert backend.sites.view().version > view.version


def test_intake_stores_events_notifications_and_emails_together(backend: Services) -> None:
    (accepted,) = backend.events.submit(event(value=41.5, unit="°C", threshold=35.0))
    record = backend.events.get(accepted.id)
    assert record is not None
    stored = record.stored.event
    assert (stored.value, stored.unit, stored.threshold) == (41.5, "°C", 35.0)
    assert stored.state is State.RAISED
    assert record.stored.is_open
    assert _statuses(backend, accepted.id) == {"alice": "sent", "bob": "sent"}
    outbox_ids = {n.outbox_id for n in record.notifications}
    assert None not in outbox_ids
    assert len(outbox_ids) == 2
    assert len(backend.store.list_deliveries(ListFilter())) == 2


def test_a_refused_batch_leaves_nothing_behind(backend: Services) -> None:
    good = event(client_event_id="ok-1")
    with pytest.raises(InputRefused) as refused:
        backend.events.submit({"events": [good, event(state="cleared", clears="01NOPE")]})
    assert refused.value.issues[0].field == "events[1].clears"
    assert stored_counts(backend) == (0, 0, 0)
    # The same good event is accepted afterwards: its client id was not half-taken.
    assert not backend.events.submit(good)[0].duplicate


def test_idempotency_and_conflicts(backend: Services) -> None:
    (first,) = backend.events.submit(event(client_event_id="c-1"))
    (again,) = backend.events.submit(event(client_event_id="c-1"))
    assert again.id == first.id
    assert again.duplicate
    with pytest.raises(InputRefused) as refused:
        backend.events.submit(event(client_event_id="c-1", severity="warning"))
    assert refused.value.conflict


def test_clears_thread_with_the_raise_and_close_it(backend: Services) -> None:
    (raised,) = backend.events.submit(event())
    (cleared,) = backend.events.submit(event(state="cleared", severity=None, text="OK again"))
    assert cleared.clears == raised.id
    assert _statuses(backend, cleared.id) == {"alice": "sent", "bob": "sent"}
    record = backend.events.get(cleared.id)
    assert record is not None
    assert record.stored.event.severity is Severity.ALARM
    assert not backend.events.get(raised.id).stored.is_open  # type: ignore[union-attr]


def test_a_repeated_raise_is_cleared_for_everyone_told(backend: Services, clock: Clock) -> None:
    warm = event(category="always", group="server-room", sensor="temperature")
    ids = [backend.events.submit(warm)[0].id for _ in range(5)]  # 3 sent, 2 held (cap 3)
    (cleared,) = backend.events.submit({**warm, "state": "cleared", "severity": None})
    assert cleared.clears == ids[2]  # the newest raise anyone was told of
    assert cleared.notified == 2
    with backend.store.site_reading() as sql:
        assert (
            EventSQL(sql.runner).open_raises(
                "server-room", "Smoke detector 2", "temperature", Category.ALWAYS
            )
            == []
        )


def test_the_cap_counts_per_hour(backend: Services, clock: Clock) -> None:
    warm = event(category="always", group="server-room")
    assert [backend.events.submit(warm)[0].held for _ in range(4)] == [0, 0, 0, 2]
    clock.now += 3600  # the next hour: the cap allows again
    assert backend.events.submit(warm)[0].notified == 2


def test_held_emails_become_one_summary_per_user(backend: Services, clock: Clock) -> None:
    warm = event(category="always", group="server-room", severity="warning")
    backend.sites.update_group(
        "building-a", {"policies": {"always": {"email_warnings": True, "max_per_hour": 1}}}
    )
    ids = [backend.events.submit({**warm, "value": float(v)})[0].id for v in range(4)]
    backend.events.submit({**warm, "severity": "alarm", "value": 99.0})
    assert tick(backend, clock.now, checks=()).summaries == 0  # the hour is not over
    report = tick(backend, clock.now + 3600, checks=())
    assert (report.summaries, report.events_summarized) == (2, 8)  # alice and bob, 4 each
    assert set(_statuses(backend, ids[1]).values()) == {NotificationStatus.SUMMARIZED}
    summaries = [
        d
        for d in backend.store.list_deliveries(ListFilter())
        if "SUMMARY" in d.subject or "ZUSAMMENFASSUNG" in d.subject
    ]
    assert sorted(d.recipient for d in summaries) == ["alice@example.com", "bob@example.net"]
    bob = next(d for d in summaries if d.recipient == "bob@example.net")
    assert "held back: 4" in bob.subject
    assert "Worst severity: Alarm" in bob.subject
    assert tick(backend, clock.now + 7200, checks=()).summaries == 0  # never twice


def test_without_a_sender_emails_wait_for_one(backend: Services, clock: Clock) -> None:
    backend.settings.update({"sender_address": ""})
    (accepted,) = backend.events.submit(event())
    assert (accepted.notified, accepted.held) == (0, 2)
    assert tick(backend, clock.now, checks=()).summaries == 0  # still no sender
    backend.settings.update({"sender_address": "alarm@example.com"})
    report = tick(backend, clock.now, checks=())  # no need to wait for the hour
    assert (report.summaries, report.events_summarized) == (2, 2)


def test_system_problems_are_reported_once_and_cleared(backend: Services) -> None:
    first = raise_system_event(backend, "delivery_paused", "Email delivery is paused: 535")
    assert raise_system_event(backend, "delivery_paused", "again") == first
    assert backend.events.open_system_problems() == {"delivery_paused": first}
    cleared = clear_system_event(backend, "delivery_paused")
    assert cleared is not None
    assert clear_system_event(backend, "delivery_paused") is None
    assert backend.events.open_system_problems() == {}
    # Alice is the only enabled user with system email on: one notice, one "resolved".
    assert _statuses(backend, first) == {"alice": "sent"}
    record = backend.events.get(cleared)
    assert record is not None
    assert record.stored.event.clears == first
    subjects = [d.subject for d in backend.store.list_deliveries(ListFilter())]
    assert any(s.startswith("[BEHOBEN]") for s in subjects)


def test_event_queries(backend: Services) -> None:
    at = 1_700_000_000.0
    with backend.store.transaction() as tx:
        sql = EventSQL(tx.runner)
        ev = Event(
            id="01TESTEVENT",
            group_id="site",
            device="d",
            sensor="s",
            category=Category.FIRE,
            severity=Severity.ALARM,
            state=State.RAISED,
            occurred_at=datetime.fromtimestamp(at, UTC),
            client_event_id="cid",
        )
        sql.insert_events([(ev, "f")], received_at=at)
        sql.add_to_count("site", Category.FIRE, 5)
        sql.add_to_count("site", Category.FIRE, 5, 2)
        assert sql.hour_count("site", Category.FIRE, 5) == 3
        assert sql.prune_counts(before_hour=6) == 1
    with backend.store.site_reading() as site:
        sql = EventSQL(site.runner)
        assert sql.events_by_client_id(["cid"])["cid"].event == ev
        assert sql.open_raises("site", "d", "s", Category.FIRE)[0].event.id == ev.id
        assert [e.event.id for e in sql.recent_events(limit=5)] == [ev.id]
        assert sql.recent_events(limit=5, before=at) == []


def test_the_client_id_lookup_finds_each_of_many_ids_once(backend: Services) -> None:
    # An Alertmanager webhook may name 10,000 alerts: the ids go in lists of at most
    # 500, each padded with copies of its last id (tocsin.store.lists).
    at = 1_700_000_000.0
    stored = [f"cid-{i}" for i in range(0, 1300, 7)]
    with backend.store.transaction() as tx:
        rows = [
            (Event(id=f"01EV{i:06d}", group_id="site", device="d", sensor=f"s{i}",
                   category=Category.FIRE, severity=Severity.ALARM, state=State.RAISED,
                   occurred_at=datetime.fromtimestamp(at, UTC), client_event_id=cid), "f")
            for i, cid in enumerate(stored)
        ]  # fmt: skip
        EventSQL(tx.runner).insert_events(rows, received_at=at)
    asked = [f"cid-{i}" for i in range(1300)] + ["cid-7", "nobody"]
    with backend.store.site_reading() as site:
        found = EventSQL(site.runner).events_by_client_id(asked)
    assert sorted(found) == sorted(stored)
    assert all(found[cid].event.client_event_id == cid for cid in stored)


def test_groups_in_use_cannot_go(backend: Services) -> None:
    with pytest.raises(InputRefused) as refused:
        backend.sites.remove_group("building-a")
    assert refused.value.conflict
    assert refused.value.issues[0].code == "group_has_children"
    with pytest.raises(InputRefused) as refused:
        backend.sites.remove_group("office")
    assert refused.value.issues[0].code == "group_has_users"
    backend.sites.update_user("carol", {"groups": ["site"]})
    backend.sites.remove_group("office")
    assert "office" not in backend.sites.view().tree


def test_a_cycle_is_refused_naming_the_parent(backend: Services) -> None:
    with pytest.raises(InputRefused) as refused:
        backend.sites.update_group("site", {"parent": "server-room"})
    (problem,) = refused.value.issues
    assert (problem.field, problem.code) == ("parent", "group_cycle")
    assert isinstance(backend.sites.group("site"), AlarmGroup)


def test_an_unusable_address_fails_alone(backend: Services) -> None:
    with backend.store.site_writing() as sql:  # bypassing validation, as an old import might
        broken = User(
            id="zoe",
            name="Zoe",
            email="not an address",
            group_ids=frozenset({"site"}),
            email_categories=frozenset({Category.FIRE}),
        )
        sql.put_user(broken, now=1.0)
    (accepted,) = backend.events.submit(event())
    assert (accepted.notified, accepted.held, accepted.failed) == (2, 0, 1)
    record = backend.events.get(accepted.id)
    assert record is not None
    failed = {n.user_id: n.reason for n in record.notifications if n.status == "failed"}
    assert list(failed) == ["zoe"]
    assert "address" in failed["zoe"]


def test_retries_in_a_batch_render_nothing_and_a_lone_retry_is_still_one_email(
    backend: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.alarm_email import EmailRenderer

    body = {"events": [event(device=f"D{i}", client_event_id=f"c{i}") for i in range(3)]}
    first = backend.events.submit(body)
    counts = stored_counts(backend)
    rendered: list[str] = []
    real_alarm = EmailRenderer.alarm

    def counted(self: EmailRenderer, event: Event, user: User, **kw: object) -> object:
        rendered.append(event.device)
        return real_alarm(self, event, user, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(EmailRenderer, "alarm", counted)
    again = backend.events.submit(body)  # the client's retry of the whole batch
    assert [a.duplicate for a in again] == [True, True, True]
    assert [a.id for a in again] == [a.id for a in first]
    assert rendered == []  # planned with the stored ids: nothing rendered for nothing
    # A lone retry is planned without that read (issue 11): it may render, never store.
    (lone,) = backend.events.submit(event(device="D1", client_event_id="c1"))
    assert lone.duplicate
    assert lone.id == first[1].id
    assert set(rendered) <= {"D1"}  # at most once per recipient, in planning
    assert len(rendered) <= first[1].notified
    assert stored_counts(backend) == counts


def test_a_lone_alarm_reads_once_before_its_transaction(services: Services) -> None:
    # The site's version and the sender's rows in one statement; the client event id is
    # looked up in the transaction only; the escalation policies come with the cached
    # site; its rows go one statement per table, its two emails in one (issue 11: for
    # this alarm to two people, 16 statements on 2026-12-06, 13 the same day, 10 now).
    services.events.submit(event(device="warm-up"))  # the site and the sender cached
    conn = services.store._conn  # type: ignore[attr-defined]
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        (accepted,) = services.events.submit(event(device="D9", client_event_id="c9"))
    finally:
        conn.set_trace_callback(None)
    assert accepted.notified == 2
    verbs = [s.split()[0] for s in statements]
    assert verbs == ["SELECT", "BEGIN", "SELECT", "SELECT", *["INSERT"] * 5, "COMMIT"], statements
    tables = [s.split()[2] for s in statements if s.startswith("INSERT")]
    assert tables == ["event", "outbox_email", "outbox_delivery", "notification", "hourly_count"]
    assert "FROM kv" in statements[0]
    assert "site_version" in statements[0]


def test_a_batch_writes_each_table_with_one_statement(services: Services) -> None:
    # Issue 11: a request's rows are staged and written together (five statements an
    # event before: its row, its email, the delivery, the notification, the count).
    services.events.submit(event(device="warm-up"))
    conn = services.store._conn  # type: ignore[attr-defined]
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        accepted = services.events.submit({"events": [event(device=f"D{i}") for i in range(4)]})
    finally:
        conn.set_trace_callback(None)
    assert [a.notified for a in accepted] == [2] * 4
    tables = [s.split()[2] for s in statements if s.startswith("INSERT")]
    assert tables == ["event", "outbox_email", "outbox_delivery", "notification", "hourly_count"]


def test_each_notification_of_a_batch_names_its_own_email(backend: Services) -> None:
    devices = [f"Detector {i}" for i in range(6)]
    accepted = backend.events.submit({"events": [event(device=d) for d in devices]})
    addresses = {"alice": "alice@example.com", "bob": "bob@example.net"}
    for device, one in zip(devices, accepted, strict=True):
        record = backend.events.get(one.id)
        assert record is not None
        assert {n.user_id for n in record.notifications} == set(addresses)
        for n in record.notifications:
            assert n.outbox_id is not None
            view = backend.store.get_email(n.outbox_id, content=True)
            assert view is not None
            assert [d.recipient for d in view.deliveries] == [addresses[n.user_id]]
            assert view.content is not None
            assert device.encode() in view.content


def test_a_clear_in_the_same_request_as_its_raise_ends_it(backend: Services) -> None:
    # The raise is staged, not yet written, when the clear looks for it: it is written
    # first, so the clear finds it, threads with it and closes it.
    raised, cleared = backend.events.submit(
        {"events": [event(), event(state="cleared", severity=None, text="OK again")]}
    )
    assert cleared.clears == raised.id
    assert cleared.notified == 2  # alice and bob, told of the raise
    assert not backend.events.get(raised.id).stored.is_open  # type: ignore[union-attr]


def test_the_cap_counts_the_events_before_it_in_the_same_request(
    backend: Services, clock: Clock
) -> None:
    warm = event(category="always", group="server-room")
    batch = [{**warm, "device": f"Sensor {i}"} for i in range(4)]
    assert [a.held for a in backend.events.submit({"events": batch})] == [0, 0, 0, 2]
    assert backend.events.submit(warm)[0].held == 2  # the three were counted, and stored


_REFUSE_BOOM = {  # a real trigger: the database itself refuses one row of the staged write
    "sqlite": [
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON notification "
        "WHEN NEW.user_id = 'bob' AND NEW.event_id IN (SELECT id FROM event WHERE device = 'Boom') "
        "BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END"
    ],
    "postgres": [
        "CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN "
        "IF EXISTS (SELECT 1 FROM event WHERE id = NEW.event_id AND device = 'Boom') "
        "THEN RAISE EXCEPTION 'refused by trigger'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON notification "
        "FOR EACH ROW EXECUTE FUNCTION refuse_boom()",
    ],
}


def test_a_staged_write_the_database_refuses_stores_nothing_of_its_request(
    backend: Services,
) -> None:
    # The failure path of writing a request's rows together: one refused row (a
    # trigger, on the real database) fails the request whole, and the next one goes in.
    kind = "postgres" if isinstance(backend.store, PostgresStore) else "sqlite"
    with backend.store.transaction() as tx:
        for statement in _REFUSE_BOOM[kind]:
            tx.runner.run(statement)
    batch = [event(device="Fine"), event(device="Boom"), event(device="Also fine")]
    with pytest.raises(Exception, match="refused by trigger"):
        backend.events.submit({"events": batch})
    assert stored_counts(backend) == (0, 0, 0)
    (accepted,) = backend.events.submit(event(device="Fine", client_event_id="after"))
    assert accepted.notified == 2
    assert stored_counts(backend) == (1, 2, 2)


def test_the_site_version_and_the_senders_rows_come_in_one_read(backend: Services) -> None:
    from tocsin.services.events import SENDER_KEYS

    with backend.store.site_reading() as site:
        version, stored = site.version_and_values(SENDER_KEYS)
        assert version == site.version()
        assert set(stored) == {"email_settings"}  # no public URL saved
        assert site.version_and_values(()) == (version, {})
    backend.sites.import_site({**SITE, "groups": [*SITE["groups"], {"id": "new", "name": "N"}]})
    with backend.store.site_reading() as site:
        assert site.version_and_values(SENDER_KEYS)[0] > version


@pytest.mark.postgres
def test_a_lone_alarms_transaction_is_two_round_trips_on_postgresql(
    pg: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client-id lookup rides with the site's version (one sync), the rows with the
    # COMMIT (the closing sync): issue 11 (six syncs at the start of 2026-12-06).
    pg.events.submit(event(device="warm-up"))
    syncs = pipeline_syncs(monkeypatch)
    (accepted,) = pg.events.submit(event(device="D9", client_event_id="c9"))
    assert syncs == ["_sync_gen", "_exit_gen"], syncs
    monkeypatch.undo()
    (again,) = pg.events.submit(event(device="D9", client_event_id="c9"))
    assert again.duplicate
    assert again.id == accepted.id
    assert accepted.notified == 2
