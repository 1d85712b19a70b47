"""Email addresses, validated by email-validator (never by ``email.utils``).

``email.utils.parseaddr`` on Python 3.11.7 is affected by CVE-2023-27043, so
addresses are parsed only here, as bare ``local@domain`` strings, and display
names are kept in their own field.

Every refusal is one of our own reasons (``InvalidAddress.reason``) with one
sentence in English and German: email-validator's English sentences are mapped to
those reasons, never shown to a user.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

from tocsin.headers import unsafe_character
from tocsin.i18n import translate

__all__ = [
    "Address",
    "InvalidAddress",
    "is_internal_domain",
    "parse_address",
    "parse_known_address",
]

# RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254.
MAX_ADDRESS_LENGTH = 254

# email-validator's sentences (2.x), most specific first, to our reasons.
_LIBRARY_REASONS: Final = (
    ("at-sign (@) character", "no_at"),
    ("small commercial at", "no_at"),
    ("must have an @-sign", "no_at"),
    ("something before the @-sign", "empty_local"),
    ("too long", "too_long"),
    ("so many characters", "bad_domain"),
    ("period", "dots"),
    ("before the @-sign", "bad_local"),
    ("after the @-sign", "bad_domain"),
    ("hyphen", "bad_domain"),
    ("dashes", "bad_domain"),
    ("character", "bad_chars"),
)
# RFC 6761 §6.4: .invalid is guaranteed never to exist; the others in email-validator's
# special-use list (local, localhost, test, arpa, onion) are names a private network
# may well use, as are these (ICANN reserved .internal in 2024 for private use).
_NEVER: Final = frozenset({"invalid"})
_PRIVATE: Final = frozenset({"internal", "lan", "home", "corp", "intranet", "localdomain"})


# email-validator is imported with the first address checked, not with this module:
# the domain model imports this module, and a command that lists users or settings
# need not load the library (its syntax tables take tens of milliseconds).
@functools.cache
def _internal() -> frozenset[str]:
    """The last labels only a local network resolves."""
    import email_validator

    return (frozenset(email_validator.SPECIAL_USE_DOMAIN_NAMES) - _NEVER) | _PRIVATE


class InvalidAddress(ValueError):
    """The text is not a usable email address.

    ``reason`` is a stable code (``no_at``, ``space`` …); ``text(language)`` says it in
    one sentence, ``str()`` in English.
    """

    def __init__(self, reason: str, **params: str) -> None:
        self.reason = reason
        self.params = params
        super().__init__(self.text("en"))

    @property
    def code(self) -> str:
        """The text code of this reason (``address_no_at`` …)."""
        return f"address_{self.reason}"

    def text(self, language: str = "en") -> str:
        """The reason in one sentence, in ``language``."""
        return translate(self.code, language, **self.params)


@dataclass(frozen=True, slots=True)
class Address:
    """A validated address.

    ``text`` is the address in its normalised Unicode form, ``ascii`` the form
    usable without SMTPUTF8 (internationalised domain in IDNA), or ``None`` when
    the local part itself is not ASCII and the server must support SMTPUTF8
    (RFC 6531).  ``internal`` is True for a domain only a local network resolves.
    """

    text: str
    ascii: str | None
    local_part: str
    domain: str
    internal: bool = False

    @property
    def needs_smtputf8(self) -> bool:
        """True when only an SMTPUTF8 server can carry this address."""
        return self.ascii is None

    def __str__(self) -> str:
        return self.text


def parse_address(value: str) -> Address:
    """Validate ``value`` as a bare address; raise :class:`InvalidAddress` with the reason.

    Internationalised domains and local parts are allowed; nothing is silently
    rewritten beyond Unicode normalisation and the domain's case.  An address at an
    internal domain (one label, or ``.local``, ``localhost``, ``.internal`` …) is
    accepted with ``internal`` set: it is what a site's own Exchange or Postfix uses,
    and only the caller knows whether that deserves a warning.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidAddress("empty")
    if unsafe_character(value) is not None:
        raise InvalidAddress("control")
    if value != value.strip():
        raise InvalidAddress("edge_spaces")
    if "<" in value or ">" in value:
        raise InvalidAddress("angle")
    if len(value) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress("too_long", limit=str(MAX_ADDRESS_LENGTH))
    if any(c.isspace() for c in value):
        raise InvalidAddress("space")
    if "@" not in value:
        raise InvalidAddress("no_at")
    domain = value.rpartition("@")[2]
    last = domain.rpartition(".")[2]
    if last.isdigit():
        raise InvalidAddress("bad_domain")  # an IP address belongs in brackets, if at all
    if last.lower() in _NEVER:
        raise InvalidAddress("never", domain=last.lower())
    import email_validator
    from email_validator import EmailNotValidError, validate_email

    special = last if last.lower() in email_validator.SPECIAL_USE_DOMAIN_NAMES else ""
    # email-validator refuses special-use names whatever the options; check the
    # syntax on a stand-in of the same length and letters, then put the name back.
    probe = value[: len(value) - len(special)] + "x" * len(special)
    try:
        info = validate_email(
            probe, check_deliverability=False, allow_smtputf8=True, globally_deliverable=False
        )
    except EmailNotValidError as exc:
        raise InvalidAddress(_reason_of(str(exc))) from exc
    normal, ascii_form, domain = info.normalized, info.ascii_email, info.domain
    if special:
        cut = len(special)
        normal = normal[:-cut] + special.lower()
        ascii_form = None if ascii_form is None else ascii_form[:-cut] + special.lower()
        domain = domain[:-cut] + special.lower()
    return Address(
        text=normal,
        ascii=ascii_form,
        local_part=info.local_part,
        domain=domain,
        internal=is_internal_domain(domain),
    )


@functools.lru_cache(maxsize=1024)
def parse_known_address(value: str) -> Address:
    """:func:`parse_address`, its answers kept for the addresses used again and again
    (the sender, recent recipients): a pure function of the text, so the same answer
    without email-validator's tens of microseconds per call.  A refusal is not kept:
    it raises :class:`InvalidAddress` again every time."""
    return parse_address(value)


def is_internal_domain(domain: str) -> bool:
    """True for a domain only a local network can resolve (one label, ``.local`` …)."""
    name = domain.lower().rstrip(".")
    last = name.rpartition(".")[2]
    return "." not in name or last in _internal()


def _reason_of(library_text: str) -> str:
    """Our reason code for one of email-validator's (English) sentences."""
    for fragment, reason in _LIBRARY_REASONS:
        if fragment in library_text:
            return reason
    return "invalid"
