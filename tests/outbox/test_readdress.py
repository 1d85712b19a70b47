"""A queued email re-addressed to the current sender: envelope and From change, nothing else."""

from __future__ import annotations

import email
import email.policy

import pytest

from tocsin.message import Mail, compose
from tocsin.outbox.readdress import readdress


def _old(sender_name: str = "Old server room", *to: str) -> Mail:
    return compose(
        sender="old@example.com",
        sender_name=sender_name,
        to=list(to) or ["ops@example.net", "jörg@example.net"],  # SMTPUTF8 by default
        subject="Fire alarm: server room A – smoke detector 3",
        text="Smoke detector 3 raised an alarm.\n",
        html="<p>Smoke detector 3 raised an alarm.</p>",
    )


def _without_from(content: bytes) -> bytes:
    """The message with its From field (and folded lines) taken out."""
    head, _, body = content.partition(b"\r\n\r\n")
    kept, skipping = [], False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = line.lower().startswith(b"from:")
        if not skipping:
            kept.append(line)
    return b"\r\n".join(kept) + b"\r\n\r\n" + body


def _parsed(mail: Mail) -> email.message.EmailMessage:
    text = mail.content.decode("utf-8")  # raw UTF-8 headers with SMTPUTF8
    return email.message_from_string(text, policy=email.policy.default)  # type: ignore[return-value]


@pytest.mark.parametrize(
    "old_name", ["Old server room", "A very long sender name " * 4 + "that the renderer folds"]
)
@pytest.mark.parametrize("to", [(), ("ops@example.net",)], ids=["smtputf8", "ascii"])
def test_the_sender_changes_in_envelope_and_from_and_nothing_else(
    old_name: str, to: tuple[str, ...]
) -> None:
    old = _old(old_name, *to)
    if "long" in old_name:
        assert old.content.split(b"\r\n")[1].startswith(b" ")  # From is folded
    new = readdress(old, "alarms@new.example.org", "Serverraum Süd")
    assert new.sender == "alarms@new.example.org"
    got = _parsed(new)
    assert got["From"].addresses[0].addr_spec == "alarms@new.example.org"
    assert got["From"].addresses[0].display_name == "Serverraum Süd"
    assert len(got.get_all("From")) == 1
    assert _without_from(new.content) == _without_from(old.content)  # every other byte
    assert (new.message_id, new.recipients, new.smtputf8) == (
        old.message_id,
        old.recipients,
        old.smtputf8,
    )


def test_the_same_address_keeps_the_email_as_it_is() -> None:
    old = _old()
    assert readdress(old, "old@example.com", "Another name") is old
    assert readdress(old, "OLD@example.com", "") is old


@pytest.mark.parametrize("name", ["", "Serverraum Süd"])
def test_an_address_that_needs_smtputf8_turns_it_on(name: str) -> None:
    old = _old("Old server room", "ops@example.net")
    assert not old.smtputf8
    new = readdress(old, "jörg@example.org", name)
    assert new.smtputf8
    assert new.sender == "jörg@example.org"
    (got,) = _parsed(new)["From"].addresses
    assert (got.addr_spec, got.display_name) == ("jörg@example.org", name)
    assert _without_from(new.content) == _without_from(old.content)


@pytest.mark.parametrize(
    ("sender", "name"), [("not an address", ""), ("ok@example.org", "Evil\r\nBcc: x@example.org")]
)
def test_a_bad_sender_is_refused(sender: str, name: str) -> None:
    for _ in range(2):  # and again: the sender's parse is kept, a refusal never
        with pytest.raises(ValueError):  # noqa: PT011 (InvalidAddress or UnsafeHeaderText)
            readdress(_old(), sender, name)
