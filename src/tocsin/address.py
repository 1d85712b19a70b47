"""Email addresses, validated by email-validator (never by ``email.utils``).

``email.utils.parseaddr`` on Python 3.11.7 is affected by CVE-2023-27043, so
addresses are parsed only here, as bare ``local@domain`` strings, and display
names are kept in their own field.
"""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from tocsin.headers import unsafe_character

__all__ = ["Address", "InvalidAddress", "parse_address"]

# RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254.
MAX_ADDRESS_LENGTH = 254


class InvalidAddress(ValueError):
    """The text is not a usable email address; the message says why."""


@dataclass(frozen=True, slots=True)
class Address:
    """A validated address.

    ``text`` is the address in its normalised Unicode form, ``ascii`` the form
    usable without SMTPUTF8 (internationalised domain in IDNA), or ``None`` when
    the local part itself is not ASCII and the server must support SMTPUTF8
    (RFC 6531).
    """

    text: str
    ascii: str | None
    local_part: str
    domain: str

    @property
    def needs_smtputf8(self) -> bool:
        """True when only an SMTPUTF8 server can carry this address."""
        return self.ascii is None

    def __str__(self) -> str:
        return self.text


def parse_address(value: str) -> Address:
    """Validate ``value`` as a bare address; raise :class:`InvalidAddress` with the reason.

    Internationalised domains and local parts are allowed; nothing is silently
    rewritten beyond Unicode normalisation and the domain's case.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidAddress("the address is empty")
    problem = unsafe_character(value)
    if problem is not None:
        raise InvalidAddress(f"the address contains a control character or line break: {problem}")
    if value != value.strip():
        raise InvalidAddress("the address has leading or trailing spaces")
    if "<" in value or ">" in value:
        raise InvalidAddress(
            "enter the bare address (name@example.com), without a name or angle brackets"
        )
    if len(value) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(f"the address is longer than {MAX_ADDRESS_LENGTH} characters")
    try:
        info = validate_email(value, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from exc
    return Address(
        text=info.normalized,
        ascii=info.ascii_email,
        local_part=info.local_part,
        domain=info.domain,
    )
