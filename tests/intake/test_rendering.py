"""Rendering for many users at once gives exactly the emails of rendering each alone
(up to the random MIME boundary)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from intake_support import SENDER

from tocsin.alarm_email import EmailRenderer
from tocsin.headers import UnsafeHeaderText
from tocsin.i18n import Language
from tocsin.message import Mail
from tocsin.model import AlarmGroup, Category, Event, Severity, State, User, new_id
from tocsin.routing import build_tree
from tocsin.services.intake import Intake
from tocsin.services.rendering import EventMails, Sender
from tocsin.services.sites import SiteView
from tocsin.store.events_sql import EventSQL

DATE = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TREE = build_tree(
    [
        AlarmGroup(id="site", name="Site"),
        AlarmGroup(id="room", name="Room", parent_id="site"),
    ]
)


def _fixed(mail: Mail) -> Mail:
    """``mail`` with its random MIME boundary replaced by a fixed one."""
    (boundary,) = set(re.findall(rb'boundary="([^"]+)"', mail.content))
    return replace(mail, content=mail.content.replace(boundary, b"BOUNDARY"))


def _user(
    user_id: str, language: Language = Language.EN, zone: str = "UTC", email: str = ""
) -> User:
    return User(
        id=user_id,
        name=user_id,
        email=email or f"{user_id.partition('@')[0]}@example.net",
        language=language,
        time_zone=zone,
        group_ids=frozenset({"site"}),
        email_categories=frozenset(Category),
    )


USERS = [
    _user("a"),
    _user("b"),
    _user("c@x+y"),
    _user("d", Language.DE, "Europe/Berlin"),
    _user("e", Language.DE, "Europe/Berlin"),
    _user("f", Language.EN, "America/New_York"),
    _user("idn", email="idn@bücher.example"),  # swapped: the domain in IDNA
    _user("long", email="a" * 70 + "@example.net"),  # too long for one line: compose()
    _user("utf8", email="jörg@example.net"),  # SMTPUTF8: compose()
    _user("g", Language.EN, "America/New_York", email="g.h+alarm@example.org"),
]


def _event(**changes: object) -> Event:
    base = Event(
        id=new_id(),
        group_id="room",
        device="Smoke detector 2",
        sensor="smoke",
        category=Category.FIRE,
        severity=Severity.ALARM,
        state=State.RAISED,
        occurred_at=DATE,
        value=41.5,
        unit="°C",
        text="Rauch.\nBitte prüfen.",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_readdressed_emails_are_byte_identical() -> None:
    renderer = EmailRenderer(
        sender=SENDER, sender_name="Tocsin Test", public_url="https://t.example"
    )
    sender = Sender(SENDER, "Tocsin Test", renderer)
    raised = _event()
    cleared = _event(state=State.CLEARED, clears=raised.id)
    mails = EventMails(sender, tree=TREE, date=DATE)
    for event in (raised, cleared):
        for user in USERS:
            together = mails.alarm(event, user)
            alone = renderer.alarm(event, user, tree=TREE, date=DATE)
            assert _fixed(together.mail) == _fixed(alone.mail), user.id
            assert together.email_id == alone.email_id
            assert together.subject == alone.subject


def test_a_prepared_email_is_used_only_for_the_same_event_and_user() -> None:
    renderer = EmailRenderer(sender=SENDER)
    mails = EventMails(Sender(SENDER, "Tocsin", renderer), tree=TREE, date=DATE)
    event, user = _event(), USERS[0]
    stale = mails.alarm(replace(event, device="Old name"), user)
    view = SiteView(1, TREE, USERS)
    for prepared_user, expect_stale in (
        (user, True),
        (replace(user, email="new@example.net"), False),
    ):
        intake = Intake(
            None,
            EventSQL(None),  # type: ignore[arg-type]  # not reached: no SQL in this path
            view,
            mails,
            now=DATE.timestamp(),
            prepared={(event.id, user.id): (event, prepared_user, stale)},
        )
        chosen = intake._rendered(event, user)
        assert (chosen is stale) is expect_stale


@pytest.mark.parametrize("smuggled", ["\r\nX: y", "\nX: y", "\rX: y", "\r\n\r\nX: y"])
def test_a_swapped_header_that_would_break_the_block_is_refused(monkeypatch, smuggled) -> None:
    # The swapped lines are proven by check_header_block, not the library's parse-back
    # (issue 11): whatever goes wrong upstream of a swapped line (here its Message-ID
    # made wrong), a copy whose header block is not the first's fields is never sent.
    import tocsin.services.rendering

    renderer = EmailRenderer(sender=SENDER, sender_name="Tocsin Test")
    mails = EventMails(Sender(SENDER, "Tocsin Test", renderer), tree=TREE, date=DATE)
    event = _event()
    mails.alarm(event, USERS[0])
    monkeypatch.setattr(
        tocsin.services.rendering, "message_id_for", lambda this, domain: f"<{this}@{domain}>"
        + smuggled
    )  # fmt: skip
    with pytest.raises(UnsafeHeaderText):
        mails.alarm(event, USERS[1])
