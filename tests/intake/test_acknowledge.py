"""Acknowledging alarms in the store and the services, on SQLite and PostgreSQL (issue 13).

The email's link (its token names event and recipient), single use, idempotence, the
threaded note to the others, and what a clear does to an acknowledged alarm.
"""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest
from intake_support import Clock, event, queued

from tocsin.ack import AckSigner, AckVia
from tocsin.alarm_email import message_id_for
from tocsin.model import email_id
from tocsin.services.acknowledge import AckRefused, LinkRefused
from tocsin.services.context import Services
from tocsin.services.sites import NotFound

PUBLIC = "https://tocsin.example.com"
LINK = re.compile(r"https://tocsin\.example\.com/ack/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _raise(services: Services, **overrides: object) -> str:
    (accepted,) = services.events.submit(event(**overrides))
    return accepted.id


def _links(services: Services) -> dict[str, str]:
    """Recipient → the ack token in their alarm email (the newest of each)."""
    found: dict[str, str] = {}
    for recipient, message in queued(services):
        match = LINK.search(_text(message))
        if match:
            found[recipient] = match[1]
    return found


@pytest.fixture
def site(backend: Services) -> Services:
    backend.public_url.save(PUBLIC)
    return backend


def test_each_recipient_gets_a_link_of_their_own_and_it_names_them(site: Services) -> None:
    event_id = _raise(site)
    links = _links(site)
    assert set(links) == {"alice@example.com", "bob@example.net"}
    assert links["alice@example.com"] != links["bob@example.net"]
    claim = site.acks.signer.verify(links["bob@example.net"])
    assert (claim.event_id, claim.user_id) == (event_id, "bob")
    html = queued(site)[0][1].get_body(("html",))
    assert html is not None
    assert "/ack/" in str(html.get_content())


def test_warnings_clears_and_emails_without_a_public_url_carry_no_link(site: Services) -> None:
    _raise(site, severity="warning", category="fire")
    _raise(site, state="cleared")
    assert _links(site) == {}
    site.public_url.save("")
    _raise(site, device="Smoke detector 3")
    assert _links(site) == {}
    assert all("/ack/" not in _text(m) for _, m in queued(site))


def test_opening_the_link_changes_nothing_and_confirming_acknowledges_once(
    site: Services, clock: Clock
) -> None:
    event_id = _raise(site)
    token = _links(site)["alice@example.com"]
    before = len(queued(site))
    view = site.acks.open_link(token)
    view_again = site.acks.open_link(token)
    assert view.ack is None
    assert view_again.ack is None
    assert view.user is not None
    assert view.user.id == "alice"
    assert site.acks.acks_of([event_id]) == {}
    assert len(queued(site)) == before

    clock.now += 120
    outcome = site.acks.confirm_link(token)
    assert outcome.new
    assert (outcome.ack.by, outcome.ack.via, outcome.ack.user_id) == ("Alice", AckVia.LINK, "alice")
    assert outcome.ack.at == clock.now
    assert site.acks.acks_of([event_id])[event_id] == outcome.ack
    record = site.events.get(event_id)
    assert record is not None
    assert record.ack == outcome.ack

    with pytest.raises(LinkRefused) as used:
        site.acks.confirm_link(token)
    assert used.value.kind == "used"
    with pytest.raises(LinkRefused) as used_get:
        site.acks.open_link(token)
    assert used_get.value.kind == "used"


def test_the_others_get_one_note_threaded_under_their_own_alarm_email(site: Services) -> None:
    event_id = _raise(site)
    before = len(queued(site))
    site.acks.confirm_link(_links(site)["alice@example.com"])
    notes = queued(site)[before:]
    assert [to for to, _ in notes] == ["bob@example.net"]  # not Alice, who acknowledged
    note = notes[0][1]
    parent = message_id_for(email_id(event_id, "bob"), "example.com")
    assert note["In-Reply-To"] == parent
    assert note["References"] == parent
    assert str(note["Subject"]).startswith("[Acknowledged] Fire")
    assert re.search(r"Acknowledged by Alice at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", _text(note))


def test_a_note_is_in_each_recipients_language_and_zone(site: Services) -> None:
    event_id = _raise(site)
    before = len(queued(site))
    outcome = site.acks.acknowledge(event_id, by="Anna", via=AckVia.API)
    assert outcome.notices == 2
    notes = dict(queued(site)[before:])
    german = _text(notes["alice@example.com"])
    assert re.search(
        r"Bestätigt von Anna um \d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d CES?T \(Europe/Berlin\)", german
    ), german
    assert str(notes["alice@example.com"]["Subject"]).startswith("[Bestätigt]")
    assert "Acknowledged by Anna" in _text(notes["bob@example.net"])


def test_a_second_acknowledgement_changes_nothing_and_sends_nothing(site: Services) -> None:
    event_id = _raise(site)
    first = site.acks.acknowledge(event_id, by="Anna", via=AckVia.WEB)
    after_first = len(queued(site))
    for via in (AckVia.API, AckVia.CLI):
        again = site.acks.acknowledge(event_id, by="Ben", via=via)
        assert not again.new
        assert again.ack == first.ack
    link = site.acks.confirm_link(_links(site)["bob@example.net"])
    assert not link.new
    assert link.ack.by == "Anna"
    assert len(queued(site)) == after_first


def test_a_clear_still_ends_an_acknowledged_alarm_and_then_nothing_can_be_acknowledged(
    site: Services,
) -> None:
    event_id = _raise(site)
    token = _links(site)["bob@example.net"]
    site.acks.acknowledge(event_id, by="Anna", via=AckVia.CLI)
    (cleared,) = site.events.submit(event(state="cleared"))
    assert cleared.clears == event_id
    assert cleared.notified == 2  # the "cleared" email goes out as ever
    record = site.events.get(event_id)
    assert record is not None
    assert not record.stored.is_open
    assert record.ack is not None  # who acknowledged stays on record

    other = _raise(site, device="Smoke detector 9")
    site.events.submit(event(device="Smoke detector 9", state="cleared"))
    with pytest.raises(AckRefused) as refused:
        site.acks.acknowledge(other, by="Anna", via=AckVia.API)
    assert refused.value.code == "cleared"
    assert site.acks.open_link(token).ack is not None  # the page shows who, no button


def test_warnings_clears_and_unknown_events_cannot_be_acknowledged(site: Services) -> None:
    warning = _raise(site, severity="warning")
    with pytest.raises(AckRefused) as refused:
        site.acks.acknowledge(warning, by="Anna", via=AckVia.API)
    assert refused.value.code == "not_alarm"
    with pytest.raises(NotFound):
        site.acks.acknowledge("01J0000000000000000000000X", by="Anna", via=AckVia.API)
    assert site.acks.acks_of([warning]) == {}


def test_expired_and_forged_links_are_refused_and_change_nothing(
    site: Services, clock: Clock
) -> None:
    event_id = _raise(site)
    token = _links(site)["alice@example.com"]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    other_key = AckSigner(bytes(32)).sign(event_id, "alice")
    for bad in (forged, other_key, "nonsense"):
        with pytest.raises(LinkRefused) as refused:
            site.acks.confirm_link(bad)
        assert refused.value.kind == "invalid"
    # Signed with our key by a signer whose clock is 10 s behind: expired 9 s ago.
    expired_signer = AckSigner(_key(site), lifetime=1, clock=lambda: clock.now - 10)
    for bad in (expired_signer.sign(event_id, "alice"),):
        with pytest.raises(LinkRefused) as refused:
            site.acks.open_link(bad)
        assert refused.value.kind == "expired"
        assert refused.value.language == "de"  # Alice's: the page speaks it
        with pytest.raises(LinkRefused):
            site.acks.confirm_link(bad)
    assert site.acks.acks_of([event_id]) == {}


def _key(services: Services) -> bytes:
    from tocsin.store import ACK_KEY_FILE, load_ack_key

    return load_ack_key(services.data / ACK_KEY_FILE)


def test_a_purged_event_takes_its_acknowledgement_with_it(site: Services, clock: Clock) -> None:
    event_id = _raise(site)
    site.acks.acknowledge(event_id, by="Anna", via=AckVia.API)
    with site.store.transaction() as tx:
        tx.runner.run("DELETE FROM notification WHERE event_id = ?", (event_id,))
        tx.runner.run("DELETE FROM event WHERE id = ?", (event_id,))
    assert site.acks.acks_of([event_id]) == {}


def test_two_clicks_at_once_give_one_acknowledgement_and_one_note_each(site: Services) -> None:
    """Both links of one alarm confirmed at the same moment (two threads, real store)."""
    import threading

    event_id = _raise(site)
    links = _links(site)
    before = len(queued(site))
    results: list[object] = []
    start = threading.Barrier(4)

    def click(token: str) -> None:
        start.wait()
        try:
            results.append(site.acks.confirm_link(token))
        except LinkRefused as exc:
            results.append(exc.kind)

    tokens = [links["alice@example.com"], links["bob@example.net"]] * 2  # each twice
    threads = [threading.Thread(target=click, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    outcomes = [r for r in results if not isinstance(r, str)]
    assert sorted(r for r in results if isinstance(r, str)) == ["used", "used"]
    assert sum(1 for o in outcomes if o.new) == 1  # type: ignore[attr-defined]
    assert len(queued(site)) - before == 1  # one note, to the one who did not click first
    assert event_id in site.acks.acks_of([event_id])
