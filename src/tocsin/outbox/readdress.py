"""A queued email sent as the sender of the current settings.

An email is rendered once, when it is queued, and keeps its bytes so a retry sends the
same message.  The one exception is the sender: when the admin changes the sender address
(often together with the server: the new server's account owns another address), an
email queued before would go out with the old one.  The new server may refuse it (a
configuration problem: delivery pauses, and the email, held at the head of the queue,
pauses it again at every try, blocking every newer alarm) or its spam filter may bite.
So at send time an email whose envelope sender is not the current sender address gets
the current one, in the envelope and the ``From`` header; every other byte is kept
(Message-ID, Date, body), so it is still the same message.  A change of the sender
*name* alone does not re-address: servers do not judge names.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from typing import TYPE_CHECKING

from tocsin.address import Address, parse_known_address
from tocsin.headers import check_header_text, verify_rendered_headers
from tocsin.message import Mail

if TYPE_CHECKING:
    from tocsin.outbox.model import ClaimedEmail
    from tocsin.settings import EmailSettings

__all__ = ["as_sender_now", "readdress"]

_END_OF_HEADERS = b"\r\n\r\n"


def _wire_form(address: Address, smtputf8: bool) -> str:
    return address.text if smtputf8 or address.ascii is None else address.ascii


def _from_field(address: Address, name: str, smtputf8: bool) -> bytes:
    """``From: …`` rendered as :func:`tocsin.message.compose` renders it, with CRLF."""
    local, _, domain = _wire_form(address, smtputf8).rpartition("@")
    msg = EmailMessage(policy=policy.SMTPUTF8 if smtputf8 else policy.SMTP)
    msg["From"] = HeaderAddress(display_name=name, username=local, domain=domain)
    head, _, _ = msg.as_bytes().partition(_END_OF_HEADERS)
    return head + b"\r\n"


@functools.lru_cache(maxsize=16)
def _sender_form(sender: str, sender_name: str, smtputf8: bool) -> tuple[Address, bool, str]:
    """The sender's address, whether its mail needs SMTPUTF8, and its envelope form.

    Every delivery comes here with the same sender and name, so the answer is kept
    (issue 11); invalid ones raise ``ValueError`` again at every call, as before.
    """
    address = parse_known_address(sender)
    check_header_text(sender_name, what="The sender name")
    smtputf8 = smtputf8 or address.needs_smtputf8
    return address, smtputf8, _wire_form(address, smtputf8)


def readdress(mail: Mail, sender: str, sender_name: str) -> Mail:
    """``mail`` sent by ``sender`` (named ``sender_name``): the envelope sender and the
    ``From`` header replaced, every other byte kept; ``mail`` itself when its envelope
    sender is ``sender`` already.

    Raises ``ValueError`` for an invalid ``sender`` or ``sender_name``, or for a message
    without exactly one ``From`` header (Tocsin renders none such).
    """
    address, smtputf8, wire = _sender_form(sender, sender_name, mail.smtputf8)
    if wire.casefold() == mail.sender.casefold():
        return mail
    head, sep, body = mail.content.partition(_END_OF_HEADERS)
    if not sep:
        raise ValueError("the message has no end of its headers")
    fields: list[list[bytes]] = []
    for line in (head + b"\r\n").split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)  # a folded continuation of the field before
        else:
            fields.append([line])
    froms = [i for i, f in enumerate(fields) if f[0].split(b":", 1)[0].strip().lower() == b"from"]
    if len(froms) != 1:
        raise ValueError(f"the message has {len(froms)} From headers, not one")
    lines = [b"\r\n".join(f) + b"\r\n" for f in fields]
    lines[froms[0]] = _from_field(address, sender_name, smtputf8)
    content = b"".join(lines) + b"\r\n" + body
    names = [f[0].split(b":", 1)[0].decode("ascii", "replace").strip() for f in fields]
    verify_rendered_headers(content, names)
    return dataclasses.replace(mail, sender=wire, content=content, smtputf8=smtputf8)


log = logging.getLogger("tocsin.outbox")


def as_sender_now(email: ClaimedEmail, settings: EmailSettings) -> Mail:
    """The email as the current sender sends it (see :mod:`tocsin.outbox.readdress`):
    queued before the sender address changed, it gets the new one."""
    mail = email.mail()
    if not settings.sender_address:
        return mail
    try:
        return readdress(mail, settings.sender_address, settings.sender_name)
    except ValueError as exc:  # the settings were validated; this is only a safety net
        log.warning("email %s keeps the sender it was queued with: %s", email.message_id, exc)
        return mail
