"""Rendering one event's emails for many users: each body once per language and time zone.

An alarm email's body depends on the event, the user's language and time zone — not on
who the user is (the templates never see the user).  In a storm one event may go to a
dozen people who mostly share both, and rendering the templates is half the cost of an
email.  :class:`EventMails` renders the first user's email with
:meth:`~tocsin.alarm_email.EmailRenderer.alarm` and re-addresses it to the others:
their own To, their own stable Message-ID, and In-Reply-To / References naming
*their* copy of the raise.

Re-addressing swaps those header lines in the rendered bytes when the address is a
plain ASCII dot-atom that fits on one line (building a MIME message costs milliseconds,
swapping four lines microseconds); anything else goes through
:func:`~tocsin.message.compose` again.  Either way the header block is proven: a swapped
one by :func:`~tocsin.headers.check_header_block` (the first message's block was proven
when it was composed; the swapped lines are ``Name: value`` of our own writing, and the
library's parse-back of each copy cost about 70 µs), and ``tests/intake`` proves it
byte-identical (up to the MIME boundary) to rendering each user alone.  (The swap
belongs in :mod:`tocsin.message` as a ``readdress()``; it lives here until it moves.)
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Final

from tocsin.address import parse_address
from tocsin.alarm_email import EmailRenderer, RenderedEmail, message_id_for
from tocsin.headers import check_header_block
from tocsin.message import Mail, compose
from tocsin.model import Event, User, email_id
from tocsin.routing import GroupTree

__all__ = ["EventMails", "Sender"]

# RFC 5322 §3.2.3 dot-atom: such a local part is written as is, never quoted.
_DOT_ATOM: Final = re.compile(
    rb"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
)
_SWAPPED: Final = (b"to", b"message-id", b"in-reply-to", b"references")
_FOLD_AT: Final = 78  # the policy folds longer lines: leave those to compose()


@dataclass(frozen=True, slots=True)
class Sender:
    """The renderer for the configured sender, and what it was built from."""

    address: str
    name: str
    renderer: EmailRenderer


class EventMails:
    """The emails of events for users, rendered at ``date`` over ``tree``.

    Keeps the first rendering per (event, language, time zone) while it lives: make one
    per request.  Raises what :meth:`EmailRenderer.alarm` raises (``ValueError`` for an
    address that cannot be used).
    """

    def __init__(self, sender: Sender, *, tree: GroupTree, date: datetime) -> None:
        self.sender = sender
        self.tree = tree
        self.date = date
        self._first: dict[tuple[Event, str, str], RenderedEmail] = {}

    def alarm(self, event: Event, user: User) -> RenderedEmail:
        """The alarm, warning or "cleared" email about ``event`` for ``user``."""
        if self.sender.renderer.links_ack(event, self.tree):  # names the recipient: no reuse
            return self.sender.renderer.alarm(event, user, tree=self.tree, date=self.date)
        key = (event, str(user.language), user.time_zone)
        first = self._first.get(key)
        if first is None:
            rendered = self.sender.renderer.alarm(event, user, tree=self.tree, date=self.date)
            self._first[key] = rendered
            return rendered
        return self._readdress(first, event, user)

    def system_notice(self, event: Event, user: User) -> RenderedEmail:
        """A notice of Tocsin's own trouble (rare: rendered for each user)."""
        return self.sender.renderer.system_notice(event, user, date=self.date)

    def _readdress(self, first: RenderedEmail, event: Event, user: User) -> RenderedEmail:
        domain = first.mail.message_id.strip("<>").rpartition("@")[2]
        this = email_id(event.id, user.id)
        message_id = message_id_for(this, domain)
        headers: dict[str, str] = {}
        if event.clears is not None:  # RFC 5322 §3.6.4: answer this user's copy of the raise
            parent = message_id_for(email_id(event.clears, user.id), domain)
            headers = {"In-Reply-To": parent, "References": parent}
        mail = _swapped(first.mail, user.email, message_id, headers)
        if mail is None:
            mail = compose(
                sender=self.sender.address,
                to=[user.email],
                subject=first.subject,
                text=first.text,
                html=first.html,
                sender_name=self.sender.name,
                message_id=message_id,
                date=self.date,
                headers=headers,
            )
        return RenderedEmail(
            this, user.id, mail, first.subject, first.text, first.html, first.template_problems
        )


def _swapped(first: Mail, to: str, message_id: str, headers: dict[str, str]) -> Mail | None:
    """``first`` with To, Message-ID and the threading headers replaced, or None when
    only :func:`compose` may write them (non-ASCII, quoting, folding)."""
    address = parse_address(to)
    wire = address.ascii
    if first.smtputf8 or wire is None or not _DOT_ATOM.fullmatch(wire.rpartition("@")[0].encode()):
        return None
    lines = {b"to": f"To: {wire}", b"message-id": f"Message-ID: {message_id}"}
    lines |= {name.lower().encode(): f"{name}: {value}" for name, value in headers.items()}
    if any(len(line) > _FOLD_AT for line in lines.values()):
        return None
    head, separator, body = first.content.partition(b"\r\n\r\n")
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:  # a folded continuation line
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    names = [f.partition(b":")[0].strip().lower() for f in fields]
    if sorted(n for n in names if n in _SWAPPED) != sorted(lines):
        return None  # not the shape this swap knows: let compose() do it
    swapped = [
        lines[n].encode("ascii") if n in lines else f for n, f in zip(names, fields, strict=True)
    ]
    header_block = b"\r\n".join(swapped) + separator
    # Prove the header block alone: exactly the first message's fields, CRLF only.
    check_header_block(header_block, _header_names(head + separator))
    content = header_block + body
    return replace(first, recipients=(wire,), content=content, message_id=message_id)


@functools.lru_cache(maxsize=64)
def _header_names(header_block: bytes) -> tuple[str, ...]:
    """The header names of a rendered message (as compose() set them)."""
    return tuple(str(name) for name in BytesHeaderParser(policy=compat32).parsebytes(header_block))
