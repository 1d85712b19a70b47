"""Building the message: headers checked by us, rendered once, proven after rendering.

:func:`compose` writes the bytes itself rather than through
``email.message.EmailMessage`` (whose header registry, content manager and generator
cost milliseconds per email): every header whose form is plain (printable ASCII, single
spaces, one line of at most 78 characters) is written as ``Name: value``; every other
one goes through the very policy calls the ``EmailMessage`` path made
(``header_store_parse`` + ``fold_binary``, or ``email.header.Header`` for non-ASCII text
in a 7-bit message, whose splitting into encoded words :func:`_encoded_words` does in
one pass for the Subject), and the text part quoted-printable as the library's
``quoprimime.body_encode`` wrote it (lines of 77 + ``=``), in C passes instead of its
character-by-character ones (:func:`_quoted_printable`); the HTML part is 7bit with
character references where it fits (:func:`_html_part`), as the library writes such
a part.  The result is the same bytes that path gives, up to the random MIME boundary
(``tests/unit/test_message_builder.py`` compares the two for any text, name, language
and time zone).  Its header block is
proven before it leaves here: by :func:`~tocsin.headers.check_header_block` always, and
parsed back by :func:`~tocsin.headers.verify_rendered_headers` too when a line in it is
of the library's writing (the lines this module writes itself are parsed back by the
tests, for any input).
"""

from __future__ import annotations

import functools
import random
import re
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import base64mime, policy
from email.header import Header
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from typing import Final

from tocsin.address import Address, parse_known_address
from tocsin.headers import check_header_block, check_header_text, verify_rendered_headers

__all__ = ["Mail", "compose", "make_message_id", "utf8_text_line"]


@dataclass(frozen=True, slots=True)
class Mail:
    """A rendered message and its envelope: what a transport sends.

    ``content`` is the complete RFC 5322 message with CRLF line ends.  A retry
    sends the same bytes, so Message-ID and Date never change between attempts.
    """

    sender: str
    recipients: tuple[str, ...]
    content: bytes
    message_id: str
    smtputf8: bool = False


def make_message_id(domain: str) -> str:
    """A new globally unique Message-ID in ``domain`` (RFC 5322 §3.6.4)."""
    return f"<{uuid.uuid4().hex}@{domain}>"


_MAX_LINE: Final = 78  # RFC 5322 §2.1.1 and the policies' max_line_length
_CHROME: Final = len("=?utf-8?q??=")  # around an encoded word's text
# A header value written as it is: printable ASCII, single spaces, no space at its ends.
_PLAIN: Final = re.compile(r"[!-~]+( [!-~]+)*")
_NAME: Final = re.compile(r"[A-Za-z0-9-]+")
# An address the standard library writes as it is (dot-atom local part, LDH domain).
_PLAIN_ADDRESS: Final = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9.-]+"
)
_PLAIN_ID: Final = re.compile(r"<[A-Za-z0-9._-]+@[A-Za-z0-9.-]+>")
_TEXT_HEAD: Final = b'Content-Type: text/plain; charset="utf-8"\r\n'
_HTML_HEAD: Final = b'Content-Type: text/html; charset="utf-8"\r\n'
_QP: Final = b"Content-Transfer-Encoding: quoted-printable\r\n"
_7BIT: Final = b"Content-Transfer-Encoding: 7bit\r\n"
_MAX_7BIT_LINE: Final = 998
_MIME: Final = b"MIME-Version: 1.0\r\n"
_BOUNDARY_DIGITS: Final = len(repr(sys.maxsize - 1))  # as email.generator makes them


def _policy(smtputf8: bool) -> EmailPolicy[EmailMessage]:
    return policy.SMTPUTF8 if smtputf8 else policy.SMTP


class _Proven(bytes):
    """A header line that needs no parse-back by the library: written here from checked
    text by one of this module's own writers (whose every form the tests parse back, for
    any input), or parsed back once when it was made and kept.  A line the library's
    folder wrote is plain ``bytes``, and its message is parsed back (see :func:`compose`).
    """

    __slots__ = ()


_AUTO_SUBMITTED: Final = _Proven(b"Auto-Submitted: auto-generated\r\n")  # RFC 3834 §5


def _plain_line(name: str, value: str) -> bytes | None:
    """``Name: value`` CRLF when the standard library would write exactly that, else None."""
    if len(name) + 2 + len(value) <= _MAX_LINE and _PLAIN.fullmatch(value):
        return _Proven(f"{name}: {value}\r\n".encode("ascii"))
    return None


def _library_line(name: str, value: object, smtputf8: bool) -> bytes:
    """The header as ``EmailMessage`` stored and the generator wrote it."""
    pol = _policy(smtputf8)
    return pol.fold_binary(name, pol.header_store_parse(name, value)[1])


def _text_line(name: str, value: str, smtputf8: bool) -> bytes:
    """An unstructured header that reads back exactly as ``value``.

    The standard library's folder drops a space that falls between two encoded words
    (``a ¡ ¡`` comes back as ``a ¡¡``): whitespace between encoded words is not part
    of the text (RFC 2047 §6.2).  Non-ASCII text for a 7-bit message is therefore
    encoded and folded by ``email.header.Header``, which keeps such spaces inside the
    encoded words, and stored as it is: its lines fit the policy, so none is refolded.
    """
    plain = _plain_line(name, value) if _NAME.fullmatch(name) else None
    if plain is not None:
        return plain
    if value.isascii():
        return _library_line(name, value, smtputf8)
    if smtputf8:
        return utf8_text_line(name, value)
    if name == "Subject":
        return _encoded_words(name, value)
    raw = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return _policy(smtputf8).fold_binary(name, raw)


def utf8_text_line(name: str, value: str) -> bytes:
    """An unstructured header with non-ASCII text for an SMTPUTF8 message (RFC 6532): the
    text as it is, folded before a space once a line would pass 78 octets, the first
    word always on the name's line.

    The standard library's folder, given such a line, puts the whole text on a line of
    its own after an empty ``Subject:``, and it reads back with a leading space.
    """
    words = value.split(" ")
    lines = [f"{name}: {words[0]}"]
    for word in words[1:]:
        joined = f"{lines[-1]} {word}"
        if word and len(joined.encode("utf-8")) > _MAX_LINE and lines[-1].strip():
            lines.append(f" {word}")  # never a line of spaces only (RFC 5322 §3.2.2)
        else:
            lines[-1] = joined
    return _Proven(("\r\n".join(lines) + "\r\n").encode("utf-8"))


def _encoded_words(name: str, value: str) -> bytes:
    """``Header(value, "utf-8", header_name=name).encode()`` as the header line: the
    same choice of Q or B (the shorter for the whole text), the same split into encoded
    words (as many characters as fit: 78 less the name on the first line, 77 on the
    others, less the chrome), each word on a line of its own.  Whitespace stays inside
    the words, so none is lost between them (RFC 2047 §6.2).

    Worked out a word at a time (the cut moved back to a character's start), not a
    character at a time (about 20 µs of an alarm's subject under load)."""
    data = value.encode("utf-8")
    q_length = len(data) + 2 * len(data.translate(None, _Q_LITERAL))  # "=XX" for the rest
    room = _MAX_LINE - len(name) - 2 - _CHROME
    if -(-len(data) // 3) * 4 < q_length:  # base64mime.header_length, as Header compares
        words = [base64mime.header_encode(w, "utf-8") for w in _b_words(data, room)]
    else:
        encoded = data.decode("latin-1").translate(_Q_MAP)
        words = [f"=?utf-8?q?{w}?=" for w in _q_words(encoded, room)]
    folded = "\r\n ".join(words)
    return _Proven(f"{name}: {folded}\r\n".encode("ascii"))


# Octets the Q encoding writes as they are (quoprimime's header map; RFC 2047 §5 (3)),
# a space as "_", every other as "=XX".
_Q_LITERAL: Final = b" !*+-/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_Q_MAP: Final = {
    octet: "_" if octet == 0x20 else chr(octet) if octet in _Q_LITERAL else f"={octet:02X}"
    for octet in range(256)
}
_NEXT_ROOM: Final = _MAX_LINE - 1 - _CHROME  # a continuation line: one space, then a word


def _b_words(data: bytes, room: int) -> list[bytes]:
    """``data`` cut at characters into the longest pieces whose base64 fits ``room``."""
    pieces: list[bytes] = []
    start = 0
    while len(data) - start > room // 4 * 3:
        cut = start + room // 4 * 3
        while cut > start and 0x80 <= data[cut] < 0xC0:  # inside a character: its start
            cut -= 1
        if cut == start:  # one character longer than the room goes alone
            cut += 1
            while cut < len(data) and 0x80 <= data[cut] < 0xC0:
                cut += 1
        pieces.append(data[start:cut])
        start, room = cut, _NEXT_ROOM
    pieces.append(data[start:])
    return pieces


def _q_words(encoded: str, room: int) -> list[str]:
    """Q-encoded text cut at characters into the longest pieces that fit ``room``."""
    pieces: list[str] = []
    start = 0
    while len(encoded) - start > room:
        cut = start + room
        if encoded[cut - 1] == "=":  # inside an "=XX": back to its start
            cut -= 1
        elif encoded[cut - 2] == "=":
            cut -= 2
        while cut > start and encoded[cut] == "=" and encoded[cut + 1] in "89AB":
            cut -= 3  # an octet that goes on a character (0x80-0xBF): back one more
        if cut == start:  # one character longer than the room goes alone
            cut += 3
            while cut < len(encoded) and encoded[cut] == "=" and encoded[cut + 1] in "89AB":
                cut += 3
        pieces.append(encoded[start:cut])
        start, room = cut, _NEXT_ROOM
    pieces.append(encoded[start:])
    return pieces


@functools.lru_cache(maxsize=64)
def _from_line(wire: str, display_name: str, smtputf8: bool) -> bytes:
    """The From header of a sender (the same for every email it sends: kept, and so
    parsed back once, here, rather than in every message)."""
    local, _, domain = wire.rpartition("@")
    address = HeaderAddress(display_name=display_name, username=local, domain=domain)
    line = _library_line("From", address, smtputf8)
    verify_rendered_headers(line + b"\r\n", ["From"])
    return _Proven(line)


def _to_line(wires: Sequence[str], smtputf8: bool) -> bytes:
    if all(_PLAIN_ADDRESS.fullmatch(w) for w in wires):
        plain = _plain_line("To", ", ".join(wires))
        if plain is not None:
            return plain
    addresses = [HeaderAddress(username=w.rpartition("@")[0], domain=w.rpartition("@")[2])
                 for w in wires]  # fmt: skip
    return _library_line("To", addresses, smtputf8)


def _id_line(value: str, smtputf8: bool) -> tuple[bytes, str]:
    """The Message-ID header and the ID as it reads back."""
    if _PLAIN_ID.fullmatch(value):
        plain = _plain_line("Message-ID", value)
        if plain is not None:
            return plain, value
    pol = _policy(smtputf8)
    header = pol.header_store_parse("Message-ID", value)[1]
    return pol.fold_binary("Message-ID", header), str(header)


def _date_line(date: datetime) -> bytes:
    """The Date header line; kept, as every email of a request has the request's time.

    ``format_datetime`` gives what the Date header parses and writes back unchanged,
    at about 4 µs a call, of the 55 µs :func:`compose` takes for an alarm email.
    Kept by instant and offset, not by ``date``: datetimes in two zones (or either
    side of a change of the clocks) can be equal and still be written differently.
    """
    key = (date.timestamp(), date.utcoffset())
    line = _DATE_LINES.get(key)
    if line is None:
        line = _Proven(f"Date: {format_datetime(date)}\r\n".encode("ascii"))
        if len(_DATE_LINES) >= _DATE_LINES_KEPT:
            _DATE_LINES.clear()
        _DATE_LINES[key] = line
    return line


_DATE_LINES: dict[tuple[float, timedelta | None], bytes] = {}
_DATE_LINES_KEPT: Final = 16


def _quoted_printable(text: str) -> bytes:
    """``text`` in UTF-8, quoted-printable, CRLF line ends (as ``set_content`` made it).

    The same bytes as ``quoprimime.body_encode(…, 78)`` over the text's lines joined by
    LF (``tests/unit/test_quoted_printable.py`` holds it to that for any text), made
    in C passes where that one works a character at a time: octets are quoted by
    :func:`_qp_escape`, and each line goes through :func:`_qp_line`, whose kept
    results answer the template's own lines without running any Python.  Lines are
    independent in quoted-printable, so only a line longer than 78 or ending in white
    space is worked on (:func:`_qp_fold`, the library's own loop).
    (``binascii.b2a_qp`` is one C pass but not the same bytes: its lines are 76 octets
    and it quotes a line that is a lone ``.``.)
    """
    data = text.encode("utf-8")
    if b"\r" in data:  # bytes.splitlines() breaks at CR, LF and CRLF (str's at more)
        data = b"\n".join(data.splitlines()) + b"\n"
    elif not data.endswith(b"\n"):  # LF alone: already the lines joined by LF
        data += b"\n"
    escaped = _qp_escape(data)
    # The last line is b"": the body ends with CRLF.
    return b"\r\n".join(map(_qp_line, escaped.split(b"\n")))


# quoprimime's body map writes these octets as they are (RFC 2045 §6.7 (2), with tab
# and space); CR cannot occur here (the lines were split at it) and LF ends a line.
_QP_LITERAL: Final = bytes([9, 10, *range(32, 61), *range(62, 127)])
_QP_QUOTED: Final = re.compile(rb"[^\t\n -<>-~]+")
_QP_BLANKS: Final = (b" ", b"\t")
_QP_ESCAPES: Final = tuple(b"=%02X" % octet for octet in range(256))
# Up to this many distinct octets to quote, one bytes.replace() each beats a regex
# substitution that calls back into Python per run (many: text in a non-Latin script).
_QP_FEW: Final = 16


def _qp_escape(data: bytes) -> bytes:
    """Every octet outside :data:`_QP_LITERAL` as ``=XX`` (upper-case hex)."""
    quoted = set(data.translate(None, _QP_LITERAL))
    if not quoted:
        return data
    if len(quoted) > _QP_FEW:
        return _QP_QUOTED.sub(_qp_run, data)
    if 0x3D in quoted:  # "=" first: the other escapes bring their own "="
        data = data.replace(b"=", b"=3D")
        quoted.discard(0x3D)
    for octet in quoted:  # "=XX" holds no octet that is still to be quoted
        data = data.replace(bytes((octet,)), _QP_ESCAPES[octet])
    return data


def _qp_run(found: re.Match[bytes]) -> bytes:
    return b"=" + found.group().hex("=").upper().encode("ascii")


@functools.lru_cache(maxsize=512)
def _qp_line(line: bytes) -> bytes:
    """One escaped line as written: most are short and end in no blank, as they are.

    Kept: most lines of an HTML part are the template's own (a table cell's style),
    the same in every email of a language, and a kept one is answered in C.
    """
    if len(line) <= _MAX_LINE and not line.endswith(_QP_BLANKS):
        return line
    return _qp_fold(line)


def _qp_fold(line: bytes) -> bytes:
    """One escaped line as ``quoprimime.body_encode`` writes it: soft breaks (``=``)
    keeping each line within 78 octets and never splitting an ``=XX``, and a space
    or tab at its end quoted (RFC 2045 §6.7 (3)).  The library's loop, over bytes."""
    pieces: list[bytes] = []
    start = 0
    last_start = len(line) - 1 - _MAX_LINE
    while start <= last_start:
        stop = start + _MAX_LINE - 1
        if line[stop - 2] == 0x3D:  # "=XX" would be cut after "=X": its "=" breaks
            pieces.append(line[start : stop - 1])
            start = stop - 2
        elif line[stop - 1] == 0x3D:  # cut after "=": that "=" breaks, and starts anew
            pieces.append(line[start:stop])
            start = stop - 1
        else:
            pieces.append(line[start:stop] + b"=")
            start = stop
    if line.endswith(_QP_BLANKS):
        room = start - last_start
        blank = _QP_ESCAPES[line[-1]]
        if room >= 3:
            tail = blank
        elif room == 2:
            tail = line[-1:] + b"=\r\n"
        else:
            tail = b"=\r\n" + blank
        pieces.append(line[start:-1] + tail)
    else:
        pieces.append(line[start:])
    return b"\r\n".join(pieces)


def _boundary() -> bytes:
    """A boundary of the generator's form; no line of a quoted-printable body can hold
    it (a ``=`` there is always followed by two hex digits or the line end)."""
    token = random.randrange(sys.maxsize)  # noqa: S311  (a separator, not a secret)
    return b"===============%0*d==" % (_BOUNDARY_DIGITS, token)


def _body(text: str, html: str | None) -> tuple[bytes, bytes, tuple[str, ...]]:
    """The MIME header lines with the blank line, the body, and the MIME header names."""
    if html is None:
        head = _TEXT_HEAD + _QP + _MIME + b"\r\n"
        names = ("Content-Type", "Content-Transfer-Encoding", "MIME-Version")
        return head, _quoted_printable(text), names
    boundary = _boundary()
    head = _MIME + b'Content-Type: multipart/alternative;\r\n boundary="%s"\r\n\r\n' % boundary
    body = b"".join(
        [
            b"--%s\r\n" % boundary,
            _TEXT_HEAD,
            _QP,
            b"\r\n",
            _quoted_printable(text),
            b"\r\n--%s\r\n" % boundary,
            _html_part(html),
            b"\r\n--%s--\r\n" % boundary,
        ]
    )
    return head, body, ("MIME-Version", "Content-Type")


def _html_part(html: str) -> bytes:
    """The HTML part's header lines, the blank line and its body.

    7bit where it fits (issue 11): each character outside ASCII written as an HTML
    character reference (``–`` as ``&#8211;``, which a mail client shows as the
    character itself), lines ended by CRLF, none over 998 octets (RFC 5322 §2.1.1) and
    no NUL (RFC 2045 §2.7).  Quoted-printable, as the text part, cost 20-25 µs an alarm
    email (its HTML has long styled lines, each a Python fold, and an ``=`` in every
    attribute) and made it 5 % larger.  An HTML part that does not fit (a line of a
    long text) is quoted-printable as before.

    The usual part (lines ended by LF alone, each short) costs one encode and a few
    C scans (:func:`_short_lf_lines`); splitting an alarm's 70 lines apart, measuring
    and joining them again cost 9 µs more (issue 11).
    """
    data = html.encode("ascii", "xmlcharrefreplace")
    if b"\0" not in data:
        if b"\r" not in data and _short_lf_lines(data):
            ended = data if data.endswith(b"\n") else data + b"\n"
            return _HTML_HEAD + _7BIT + _MIME + b"\r\n" + ended.replace(b"\n", b"\r\n")
        lines = data.splitlines()  # at CR, LF and CRLF, as the quoted-printable path
        if max(map(len, lines), default=0) <= _MAX_7BIT_LINE:
            return _HTML_HEAD + _7BIT + _MIME + b"\r\n" + b"\r\n".join(lines) + b"\r\n"
    return _HTML_HEAD + _QP + _MIME + b"\r\n" + _quoted_printable(html)


_LF_EVERY: Final = _MAX_7BIT_LINE // 2


def _short_lf_lines(data: bytes) -> bool:
    """True when ``data`` has an LF in each whole stretch of :data:`_LF_EVERY` octets
    from its start: then no line is longer than :data:`_MAX_7BIT_LINE` (a line meets at
    most two stretches, the second maybe the short tail after the last whole one, so
    it holds at most ``2 × (_LF_EVERY - 1)`` octets).  False may still be a part that
    fits: the caller measures it then, line by line."""
    find, step = data.find, _LF_EVERY
    for start in range(0, len(data) - step + 1, step):  # (a loop: half a generator's time)
        if find(b"\n", start, start + step) < 0:
            return False
    return True


def _wire_form(address: Address, smtputf8: bool) -> str:
    if smtputf8 or address.ascii is None:
        return address.text
    return address.ascii


def compose(
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
    from_addr = parse_known_address(sender)
    to_addrs = [parse_known_address(r) for r in to]
    smtputf8 = any(a.needs_smtputf8 for a in (from_addr, *to_addrs))
    check_header_text(sender_name, what="The sender name")
    check_header_text(subject, what="The subject")
    extra = dict(headers or {})
    for name, value in extra.items():
        check_header_text(name, what="A header name")
        check_header_text(value, what=f"The {name} header")

    date = date or datetime.now(UTC)
    domain = (from_addr.ascii or from_addr.text).rpartition("@")[2]
    id_line, message_id = _id_line(message_id or make_message_id(domain), smtputf8)
    from_wire = _wire_form(from_addr, smtputf8)
    to_wires = [_wire_form(a, smtputf8) for a in to_addrs]
    lines = [
        _from_line(from_wire, sender_name, smtputf8),
        _to_line(to_wires, smtputf8),
        _text_line("Subject", subject, smtputf8),
        _date_line(date),
        id_line,
        _AUTO_SUBMITTED,
    ]
    lines += [_text_line(name, value, smtputf8) for name, value in extra.items()]
    mime_head, body, mime_names = _body(text, html)
    head = b"".join(lines) + mime_head
    names = ["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", *extra, *mime_names]
    # Prove the header block alone (a folded header never holds an empty line; a
    # smuggled one ends the block early, and the names then differ): always by our own
    # reading (about 5 µs), and by the library's parser too (about 70 µs, issue 11)
    # when a line of the library's writing is in it.
    check_header_block(head, names)
    if not all(isinstance(line, _Proven) for line in lines):
        verify_rendered_headers(head, names)
    content = head + body
    return Mail(
        sender=from_wire,
        recipients=tuple(to_wires),
        content=content,
        message_id=message_id,
        smtputf8=smtputf8,
    )
