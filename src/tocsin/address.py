"""Email addresses, validated by email-validator (never by ``email.utils``).

``email.utils.parseaddr`` on Python 3.11.7 is affected by CVE-2023-27043, so
addresses are parsed only here, as bare ``local@domain`` strings, and display
names are kept in their own field.

Every refusal is one of our own reasons (``InvalidAddress.reason``) with one
sentence in English and German: email-validator's English sentences are mapped to
those reasons, never shown to a user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import email_validator
from email_validator import EmailNotValidError, validate_email

from tocsin.headers import unsafe_character
from tocsin.i18n import register, translate

__all__ = ["Address", "InvalidAddress", "is_internal_domain", "parse_address"]

# RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254.
MAX_ADDRESS_LENGTH = 254

_NOT_VALID_EN = "Not a valid email address: "
_NOT_VALID_DE = "Keine gültige E-Mail-Adresse: "
_REASONS: Final = {
    "empty": ("The email address is empty.", "Die E-Mail-Adresse ist leer."),
    "control": (
        _NOT_VALID_EN + "it contains a line break or another control character.",
        _NOT_VALID_DE + "Sie enthält einen Zeilenumbruch oder ein anderes Steuerzeichen.",
    ),
    "edge_spaces": (
        _NOT_VALID_EN + "it has spaces at the start or the end.",
        _NOT_VALID_DE + "Sie hat Leerzeichen am Anfang oder am Ende.",
    ),
    "space": (
        _NOT_VALID_EN + "it contains a space.",
        _NOT_VALID_DE + "Sie enthält ein Leerzeichen.",
    ),
    "angle": (
        "Enter the bare address (name@example.com), without a name or angle brackets.",
        "Geben Sie nur die Adresse ein (name@example.com), ohne Namen und spitze Klammern.",
    ),
    "too_long": (
        _NOT_VALID_EN + "it is longer than {limit} characters.",
        _NOT_VALID_DE + "Sie ist länger als {limit} Zeichen.",
    ),
    "no_at": (
        _NOT_VALID_EN + "it needs an @ sign, like name@example.com.",
        _NOT_VALID_DE + "Das @-Zeichen fehlt (so: name@example.com).",
    ),
    "empty_local": (
        _NOT_VALID_EN + "there is nothing before the @ sign.",
        _NOT_VALID_DE + "Vor dem @-Zeichen steht nichts.",
    ),
    "bad_local": (
        _NOT_VALID_EN + "the part before the @ sign contains characters that are not allowed.",
        _NOT_VALID_DE + "Der Teil vor dem @-Zeichen enthält unzulässige Zeichen.",
    ),
    "bad_domain": (
        _NOT_VALID_EN + "the part after the @ sign is not a valid domain name.",
        _NOT_VALID_DE + "Der Teil nach dem @-Zeichen ist kein gültiger Domainname.",
    ),
    "dots": (
        _NOT_VALID_EN + "a dot stands at the start or the end of a part, or two dots "
        "stand in a row.",
        _NOT_VALID_DE + "Ein Punkt steht am Anfang oder Ende eines Teils, oder zwei Punkte "
        "stehen hintereinander.",
    ),
    "bad_chars": (
        _NOT_VALID_EN + "it contains characters that are not allowed.",
        _NOT_VALID_DE + "Sie enthält unzulässige Zeichen.",
    ),
    "never": (
        _NOT_VALID_EN + "a domain ending in .{domain} can never receive mail.",
        _NOT_VALID_DE + "Eine Domain mit der Endung .{domain} kann nie E-Mail empfangen.",
    ),
    "invalid": (
        _NOT_VALID_EN + "write it like name@example.com.",
        _NOT_VALID_DE + "Schreiben Sie sie so: name@example.com.",
    ),
}
for _reason, (_en, _de) in _REASONS.items():
    register(f"address_{_reason}", {"en": _en, "de": _de})
register(
    "address_internal",
    {
        "en": "{address} is at an internal domain: fine for a mail server inside this "
        "network, mail from the internet cannot reach it.",
        "de": "{address} liegt in einer internen Domain: richtig für einen Mailserver in "
        "diesem Netzwerk, E-Mail aus dem Internet erreicht sie nicht.",
    },
)

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
_INTERNAL: Final = (frozenset(email_validator.SPECIAL_USE_DOMAIN_NAMES) - _NEVER) | {
    "internal",
    "lan",
    "home",
    "corp",
    "intranet",
    "localdomain",
}


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


def is_internal_domain(domain: str) -> bool:
    """True for a domain only a local network can resolve (one label, ``.local`` …)."""
    name = domain.lower().rstrip(".")
    last = name.rpartition(".")[2]
    return "." not in name or last in _INTERNAL


def _reason_of(library_text: str) -> str:
    """Our reason code for one of email-validator's (English) sentences."""
    for fragment, reason in _LIBRARY_REASONS:
        if fragment in library_text:
            return reason
    return "invalid"
