"""Tracking (the online service's later word) in both stores, and its pure rules."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st
from outbox_support import PG_URL

from tocsin.message import compose
from tocsin.outbox import DeliveryUpdate, ListFilter, NewEmail, Status
from tocsin.outbox.tracker import judge_status
from tocsin.outbox.tracking import (
    MAX_TRACKING_AGE,
    RemoteState,
    TrackingDue,
    TrackingUpdate,
    next_check_delay,
    state_for,
)
from tocsin.store import Store
from tocsin.store.postgres import PostgresStore

T0 = 1_800_000_000.0


def _sent(store: Store, to: list[str], *, tracking_id: str = "", now: float = T0) -> list[int]:
    """Enqueue an email to ``to`` and record every recipient as sent; the delivery ids."""
    mail = compose(sender="alarms@example.com", to=to, subject="Alarm", text="!\n")
    with store.transaction() as tx:
        tx.enqueue(NewEmail.of(mail), now=now)
    claimed = store.claim(owner="w", now=now, limit=100, lease=60)
    ids = [d.id for c in claimed for d in c.deliveries]
    updates = [
        DeliveryUpdate(i, Status.SENT, code=202, server_reply="202 ok", tracking_id=tracking_id)
        for i in ids
    ]
    store.record(updates, owner="w", now=now)
    return ids


def test_a_relayed_delivery_is_tracked_from_its_hand_over(store: Store) -> None:
    ids = _sent(store, ["a@example.net", "b@example.net"], tracking_id="msg_1")
    _sent(store, ["smtp@example.net"])  # an SMTP 250: nothing to follow
    assert store.tracking_due(now=T0, limit=10) == []  # the first question comes later
    first = T0 + next_check_delay(0)
    due = store.tracking_due(now=first, limit=10)
    assert [(d.delivery_id, d.tracking_id, d.checks, d.since) for d in due] == [
        (ids[0], "msg_1", 0, T0),
        (ids[1], "msg_1", 0, T0),
    ]
    assert {d.recipient for d in due} == {"a@example.net", "b@example.net"}
    # Taken for a minute: another process asks none of them twice; a dead one's come back.
    assert store.tracking_due(now=first, limit=10) == []
    assert store.next_tracking_due() == first + 60
    assert len(store.tracking_due(now=first + 60, limit=10)) == 2
    assert store.tracking_counts()[RemoteState.PENDING] == 2
    (smtp,) = store.list_deliveries(ListFilter(recipient="smtp@"))
    assert smtp.remote is None


def test_answers_are_recorded_and_final_ones_leave_the_due_list(store: Store) -> None:
    a, b = _sent(store, ["a@example.net", "b@example.net"], tracking_id="msg_1")
    at = T0 + 10
    store.record_tracking(
        [
            TrackingUpdate(a, RemoteState.DELIVERED, None, "2.0.0 Ok", 250),
            TrackingUpdate(b, RemoteState.PENDING, at + 20, "451 greylisted", 451),
        ],
        now=at,
    )
    view = store.get_email(store.list_deliveries(ListFilter())[0].email_id)
    assert view is not None
    remote = {d.id: d.remote for d in view.deliveries}
    assert remote[a] is not None
    assert (remote[a].state, remote[a].code, remote[a].checks) == (RemoteState.DELIVERED, 250, 1)
    assert remote[a].checked_at == at
    assert remote[a].next_check_at is None
    assert remote[b] is not None
    assert (remote[b].state, remote[b].next_check_at, remote[b].checks) == (
        RemoteState.PENDING,
        at + 20,
        1,
    )
    assert [d.delivery_id for d in store.tracking_due(now=at + 1_000, limit=10)] == [b]

    # Unanswered (the relay was down): only the next question moves; nothing else.
    store.record_tracking([TrackingUpdate(b, RemoteState.PENDING, at + 99, answered=False)], now=at)
    (again,) = store.tracking_due(now=at + 99, limit=10)
    assert (again.delivery_id, again.checks) == (b, 1)
    counts = store.tracking_counts()
    assert (counts[RemoteState.DELIVERED], counts[RemoteState.PENDING]) == (1, 1)


@pytest.mark.postgres
def test_two_processes_on_one_database_never_ask_about_the_same_delivery(
    pg_store: PostgresStore,
) -> None:
    ids = _sent(pg_store, [f"r{i}@example.net" for i in range(40)], tracking_id="msg_1")
    other = PostgresStore(PG_URL, schema=pg_store.schema)
    try:
        at = T0 + next_check_delay(0)
        with ThreadPoolExecutor(2) as pool:
            one, two = pool.map(
                lambda s: [d.delivery_id for d in s.tracking_due(now=at, limit=25)],
                [pg_store, other],
            )
    finally:
        other.close()
    assert not set(one) & set(two)
    assert sorted(one + two) == sorted(ids)


def test_the_filter_finds_by_remote_state(store: Store) -> None:
    a, b = _sent(store, ["a@example.net", "b@example.net"], tracking_id="msg_1")
    store.record_tracking([TrackingUpdate(b, RemoteState.BOUNCED, None, "550 no", 550)], now=T0)
    bounced = store.list_deliveries(ListFilter(remote_states=(RemoteState.BOUNCED,)))
    assert [v.id for v in bounced] == [b]
    both = store.list_deliveries(
        ListFilter(remote_states=(RemoteState.BOUNCED, RemoteState.PENDING))
    )
    assert sorted(v.id for v in both) == sorted([a, b])


def test_purging_a_delivery_takes_its_tracking_with_it(store: Store) -> None:
    _sent(store, ["a@example.net"], tracking_id="msg_1")
    assert store.purge(before=T0 + 1, statuses=[Status.SENT]) == 1
    assert store.tracking_due(now=T0 + 10**6, limit=10) == []
    assert sum(store.tracking_counts().values()) == 0


def test_a_retried_bounce_is_queued_and_tracked_anew(store: Store) -> None:
    a, b = _sent(store, ["a@example.net", "b@example.net"], tracking_id="msg_1")
    store.record_tracking(
        [
            TrackingUpdate(a, RemoteState.DELIVERED, None, "ok", 250),
            TrackingUpdate(b, RemoteState.GAVE_UP, None, "451 for a day", 451),
        ],
        now=T0,
    )
    email_id = store.list_deliveries(ListFilter())[0].email_id
    assert store.retry(email_id, now=T0 + 5, statuses=[Status.DEAD, Status.FAILED]) == 1
    (claimed,) = store.claim(owner="w", now=T0 + 5, limit=10, lease=60)
    assert [d.id for d in claimed.deliveries] == [b]
    store.record(
        [DeliveryUpdate(b, Status.SENT, code=202, tracking_id="msg_2")], owner="w", now=T0 + 6
    )
    (due,) = store.tracking_due(now=T0 + 6 + next_check_delay(0), limit=10)
    assert (due.delivery_id, due.tracking_id, due.checks) == (b, "msg_2", 0)
    # Nothing the relay already delivered is retried.
    assert store.retry(email_id, now=T0 + 7, statuses=[Status.DEAD, Status.FAILED]) == 0


# ----------------------------------------------------------------- the pure rules


@pytest.mark.parametrize(
    ("relay", "state"),
    [
        ("queued", RemoteState.PENDING),
        ("sending", RemoteState.PENDING),
        ("sent", RemoteState.DELIVERED),
        ("failed", RemoteState.BOUNCED),
        ("dead", RemoteState.GAVE_UP),
        ("exploded", RemoteState.UNKNOWN),
    ],
)
def test_the_relay_statuses_map_by_one_table(relay: str, state: RemoteState) -> None:
    assert state_for(relay) is state


@given(st.integers(min_value=0, max_value=10_000))
def test_the_schedule_grows_and_stays_bounded(checks: int) -> None:
    delay = next_check_delay(checks)
    assert 5.0 <= delay <= 1_800.0
    assert next_check_delay(checks + 1) >= delay


DUE = TrackingDue(7, "msg_1", "Ops@Example.net", 2, T0)


def _body(status: str, **extra: object) -> dict[str, object]:
    return {"recipients": [{"recipient": "ops@example.net", "status": status, **extra}]}


def test_judging_matches_the_recipient_case_insensitively_and_keeps_the_words() -> None:
    update = judge_status(DUE, _body("failed", code=550, error="rcpt_to: 550 gone"), now=T0 + 60)
    assert (update.state, update.code, update.detail, update.next_check_at) == (
        RemoteState.BOUNCED,
        550,
        "rcpt_to: 550 gone",
        None,
    )


def test_judging_a_pending_answer_schedules_the_next_question() -> None:
    update = judge_status(DUE, _body("queued", code=451, error="greylisted"), now=T0 + 60)
    assert update.state is RemoteState.PENDING
    assert update.next_check_at == T0 + 60 + next_check_delay(3)
    assert update.detail == "greylisted"


def test_judging_ends_tracking_that_never_settles_and_recipients_not_listed() -> None:
    late = judge_status(DUE, _body("queued"), now=T0 + MAX_TRACKING_AGE)
    assert late.state is RemoteState.UNKNOWN
    assert late.next_check_at is None
    missing = judge_status(DUE, {"recipients": []}, now=T0)
    assert missing.state is RemoteState.UNKNOWN
    assert "does not list" in missing.detail
    assert judge_status(DUE, _body("sent", code=True), now=T0).code is None  # not a code
