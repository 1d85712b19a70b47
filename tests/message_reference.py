"""The message builder as it was before issue 11 (main e5535d5): EmailMessage all the way.

Kept frozen here as the reference that ``tests/unit/test_message_builder.py`` holds
:func:`tocsin.message.compose` to (same bytes up to the MIME boundary).  Do not change
it to make a test pass.  The documented differences are made here with the library's
own calls: UTF-8 header text set raw (``_set_text_header``), and since 2026-12-07 an
HTML part that fits 7bit set as 7bit (ASCII with character references).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email import policy
from email.header import Header
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime

from tocsin.address import Address, parse_address
from tocsin.headers import check_header_text, verify_rendered_headers
from tocsin.message import Mail, make_message_id, utf8_text_line

__all__ = ["reference_compose"]


def _set_text_header(msg: EmailMessage, name: str, value: str) -> None:
    """Set an unstructured header so that it reads back exactly as ``value``.

    The standard library's folder drops a space that falls between two encoded words
    (``a ¡ ¡`` comes back as ``a ¡¡``): whitespace between encoded words is not part
    of the text (RFC 2047 §6.2).  Non-ASCII text for a 7-bit message is therefore
    encoded and folded by ``email.header.Header``, which keeps such spaces inside the
    encoded words, and stored as it is: its lines fit the policy, so none is refolded.
    """
    if value.isascii():
        msg[name] = value
    elif msg.policy.utf8:  # type: ignore[attr-defined]
        # The one documented difference from the path it froze: UTF-8 text is folded
        # by the builder (the library's folder made it read back with a leading space).
        folded = utf8_text_line(name, value).decode("utf-8")
        msg.set_raw(name, folded.partition(": ")[2].rstrip("\r\n"))
    else:
        msg.set_raw(name, Header(value, "utf-8", header_name=name).encode(linesep="\r\n"))


def _wire_form(address: Address, smtputf8: bool) -> str:
    if smtputf8 or address.ascii is None:
        return address.text
    return address.ascii


def _header_address(address: Address, name: str, smtputf8: bool) -> HeaderAddress:
    local, _, domain = _wire_form(address, smtputf8).rpartition("@")
    return HeaderAddress(display_name=name, username=local, domain=domain)


def reference_compose(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    sender_name: str = "",
    message_id: str | None = None,
    date: datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> Mail:
    """Build and render a message; raise ``ValueError`` on any unsafe or invalid input.

    Every address is validated, every header text checked for line breaks and
    encoded words, and the rendered bytes are parsed back to prove they carry
    exactly the headers set here (no injection, whatever the standard library does).
    SMTPUTF8 is used only when an address needs it (RFC 6531).
    """
    if not to:
        raise ValueError("a message needs at least one recipient")
    from_addr = parse_address(sender)
    to_addrs = [parse_address(r) for r in to]
    smtputf8 = any(a.needs_smtputf8 for a in (from_addr, *to_addrs))
    check_header_text(sender_name, what="The sender name")
    check_header_text(subject, what="The subject")
    extra = dict(headers or {})
    for name, value in extra.items():
        check_header_text(name, what="A header name")
        check_header_text(value, what=f"The {name} header")

    # The UTF-8 text set raw (the documented difference, see _set_text_header) is written
    # as the builder folds it: a word longer than a line stays whole on a line of its own
    # (up to RFC 5322's 998 octets).  Refolding it ("long" source lines) would turn the
    # whole header into encoded words, which the builder does not do for such a message.
    utf8 = policy.SMTPUTF8.clone(refold_source="none")
    msg = EmailMessage(policy=utf8 if smtputf8 else policy.SMTP)
    msg["From"] = _header_address(from_addr, sender_name, smtputf8)
    msg["To"] = [_header_address(a, "", smtputf8) for a in to_addrs]
    _set_text_header(msg, "Subject", subject)
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    domain = (from_addr.ascii or from_addr.text).rpartition("@")[2]
    msg["Message-ID"] = message_id or make_message_id(domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834 §5: no auto-replies to alarms
    for name, value in extra.items():
        _set_text_header(msg, name, value)
    msg.set_content(text, cte="quoted-printable")
    if html is not None:
        # The documented difference since (issue 11): an HTML part is 7bit where it fits
        # (ASCII with character references, no NUL, no line over 998 octets).
        ascii_html = html.encode("ascii", "xmlcharrefreplace")
        fits = b"\0" not in ascii_html and all(len(x) <= 998 for x in ascii_html.splitlines())
        if fits:
            msg.add_alternative(ascii_html.decode("ascii"), subtype="html", cte="7bit")
        else:
            msg.add_alternative(html, subtype="html", cte="quoted-printable")
    content = msg.as_bytes()
    verify_rendered_headers(content, msg.keys())
    return Mail(
        sender=_wire_form(from_addr, smtputf8),
        recipients=tuple(_wire_form(a, smtputf8) for a in to_addrs),
        content=content,
        message_id=str(msg["Message-ID"]),
        smtputf8=smtputf8,
    )
