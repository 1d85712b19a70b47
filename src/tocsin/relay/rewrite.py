"""Preparing a submitted message for the world: headers checked, From aligned, signed.

Works on the raw bytes' header block only, so the body is sent exactly as submitted
(a DKIM body hash over re-rendered bytes would be a gamble).  Pure functions; the
service calls :func:`prepare` once per accepted message.

- Line ends become CRLF (RFC 5322 §2.1).  ``Bcc`` is removed (RFC 5322 §3.6.3).
- A ``From`` in a domain the relay signs for stays; any other is replaced by the relay's
  own address, with the site's address as display name and in ``Reply-To`` (when the
  message has none), so DMARC alignment holds and replies still reach the site.
- A ``Received`` trace header is added (RFC 5321 §4.4); then the message is DKIM-signed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP as SMTP_POLICY
from email.policy import default as default_policy
from email.utils import format_datetime

from tocsin.headers import check_header_text
from tocsin.message import make_message_id
from tocsin.relay.dkim_signer import DKIMKey
from tocsin.relay.errors import InvalidSubmission

__all__ = ["Prepared", "SigningPolicy", "from_address", "prepare", "split_header_block"]

_LINE_END = re.compile(rb"\r\n|\r|\n")
_FIELD_NAME = re.compile(rb"[!-9;-~]+")  # RFC 5322 §3.6.8 ftext
MAX_HEADER_LINE = 998  # RFC 5322 §2.1.1


@dataclass(frozen=True, slots=True)
class SigningPolicy:
    """Who the relay signs for, and its own address for messages from other domains."""

    keys: Mapping[str, DKIMKey]  # by domain, lower case
    relay_from: str  # e.g. alerts@relay.example: the From of rewritten messages
    hostname: str  # for the Received header

    def key_for(self, domain: str) -> DKIMKey | None:
        """The key that signs for ``domain``, if the relay has one."""
        return self.keys.get(domain.lower().rstrip("."))


@dataclass(frozen=True, slots=True)
class Prepared:
    """The message as it will be stored and sent."""

    content: bytes
    message_id: str
    header_from: str  # the From address after rewriting
    rewritten: bool
    signed_by: str  # the DKIM d= domain, or "" when not signed


def split_header_block(raw: bytes) -> tuple[list[bytes], bytes]:
    """Header fields (each with its continuation lines, CRLF-terminated) and the body.

    Raises :class:`InvalidSubmission` when there is no header block or a line is not a
    header field.
    """
    text = _LINE_END.sub(b"\r\n", raw)
    head, sep, body = text.partition(b"\r\n\r\n")
    if not sep:
        head, body = text.rstrip(b"\r\n"), b""
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if len(line) > MAX_HEADER_LINE:
            raise InvalidSubmission("a header line is longer than 998 characters")
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line + b"\r\n"
            continue
        name, colon, _ = line.partition(b":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            raise InvalidSubmission("the message does not start with valid header fields")
        fields.append(line + b"\r\n")
    return fields, body


def _name(field: bytes) -> str:
    return field.partition(b":")[0].decode("ascii").lower()


def _parsed(fields: Sequence[bytes]) -> EmailMessage:
    return BytesHeaderParser(policy=default_policy).parsebytes(b"".join(fields) + b"\r\n")


def from_address(fields: Sequence[bytes]) -> tuple[str, str]:
    """The single From mailbox: (display name, address).  ``InvalidSubmission`` otherwise."""
    froms = [f for f in fields if _name(f) == "from"]
    if len(froms) != 1:
        raise InvalidSubmission("the message needs exactly one From header")
    try:
        header = BytesHeaderParser(policy=default_policy).parsebytes(froms[0] + b"\r\n")["From"]
        addresses = header.addresses
    except (ValueError, TypeError, IndexError, AttributeError):
        raise InvalidSubmission("the From header cannot be parsed") from None
    if len(addresses) != 1 or not addresses[0].domain:
        raise InvalidSubmission("the From header must name exactly one address")
    return str(addresses[0].display_name), str(addresses[0].addr_spec)


def _field(name: str, value: str) -> bytes:
    check_header_text(value, what=f"The {name} header")
    return SMTP_POLICY.fold_binary(name, value)


def _rewritten_from(display: str, original: str, relay_from: str) -> bytes:
    label = f"{display} ({original})" if display else original
    local, _, domain = relay_from.rpartition("@")
    value = str(HeaderAddress(display_name=label[:150], username=local, domain=domain))
    return _field("From", value)


def prepare(
    raw: bytes,
    *,
    policy: SigningPolicy,
    received_from: str,
    via: str,
    queue_id: str,
    now: datetime | None = None,
) -> Prepared:
    """Check and rewrite the header block, add trace and DKIM headers.

    Raises :class:`InvalidSubmission` for a message without a single parsable From.
    """
    fields, body = split_header_block(raw)
    display, original = from_address(fields)
    domain = original.rpartition("@")[2].lower()
    key = policy.key_for(domain)
    names = {_name(f) for f in fields}
    kept = [f for f in fields if _name(f) != "bcc"]
    header_from, rewritten = original, key is None
    if rewritten:
        relay_domain = policy.relay_from.rpartition("@")[2]
        key = policy.key_for(relay_domain)
        kept = [f for f in kept if _name(f) != "from"]
        kept.insert(0, _rewritten_from(display, original, policy.relay_from))
        if "reply-to" not in names:
            kept.append(_field("Reply-To", original))
        header_from = policy.relay_from
    when = now or datetime.now(UTC)
    if "date" not in names:
        kept.append(_field("Date", format_datetime(when)))
    message_id = ""
    if "message-id" not in names:
        message_id = make_message_id(policy.relay_from.rpartition("@")[2])
        kept.append(_field("Message-ID", message_id))
    else:
        message_id = str(_parsed(kept).get("Message-ID", "")).strip()
    received = _field(
        "Received",
        f"from {received_from} by {policy.hostname} with {via} id {queue_id}; "
        f"{format_datetime(when)}",
    )
    content = received + b"".join(kept) + b"\r\n" + body
    if key is not None:
        content = key.sign(content)
    return Prepared(content, message_id, header_from, rewritten, key.domain if key else "")
