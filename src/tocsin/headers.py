"""Header and command safety, enforced by our own code.

The Python on the target machines (3.11.7) predates the fixes for CVE-2024-6923
(newlines in encoded words not quoted by the email generator) and CVE-2023-27043
(``email.utils`` mis-parsing addresses).  So nothing that reaches a header or an
SMTP command is trusted to the standard library: every text is checked here first,
and a rendered message is parsed back to prove it has exactly the headers we set.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from email.parser import BytesHeaderParser
from email.policy import compat32

__all__ = [
    "UnsafeHeaderText",
    "check_header_text",
    "clean_header_text",
    "unsafe_character",
    "verify_rendered_headers",
]

# RFC 2047 §2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=")
# Categories that end or bend a line somewhere: controls (CR, LF, NUL, TAB, U+0085
# NEL, ...), line and paragraph separators.  Some mail software treats U+2028 or a
# lone CR as a line break; we refuse all of them rather than guess.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
# The same characters as one class, searched in C instead of a Python loop per
# character (issue 11): Cc is U+0000-U+001F and U+007F-U+009F, Zl is U+2028, Zp is
# U+2029 (tests/unit/test_safety.py checks the class against every code point).
_UNSAFE_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class UnsafeHeaderText(ValueError):
    """A text that would change the structure of a header or an SMTP command."""


def unsafe_character(value: str) -> str | None:
    """Describe the first character in ``value`` that may not go into a header, or None."""
    found = _UNSAFE_CHARACTER.search(value)
    if found is None:
        return None
    index, char = found.start(), found.group()
    name = unicodedata.name(char, f"U+{ord(char):04X}")
    return f"{name} (U+{ord(char):04X}) at position {index + 1}"


def check_header_text(value: str, *, what: str) -> str:
    """Return ``value`` if it is safe as header text; raise :class:`UnsafeHeaderText`.

    Refused: any control character or line separator (in any encoding the text
    arrived in, since it is checked after decoding) and literal RFC 2047 encoded
    words, which a mail client would decode into text we never checked.
    """
    problem = unsafe_character(value)
    if problem is not None:
        raise UnsafeHeaderText(f"{what} contains a control character or line break: {problem}")
    if _ENCODED_WORD.search(value):
        raise UnsafeHeaderText(
            f"{what} contains an encoded word (=?charset?...?=); enter the plain text instead"
        )
    return value


def clean_header_text(value: str, *, limit: int = 200) -> str:
    """Make untrusted text (a device or sensor name) safe for a header.

    Control characters and line breaks become spaces, runs of white space fold
    into one, and the result is cut to ``limit`` characters.  Encoded-word
    markers are broken up so a client shows them literally.
    """
    # split() splits at every character isspace() is true of: no need to replace those.
    text = " ".join(_UNSAFE_CHARACTER.sub(" ", value).split())
    text = text.replace("=?", "= ?")
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def verify_rendered_headers(raw: bytes, expected: Collection[str]) -> None:
    """Raise :class:`UnsafeHeaderText` unless ``raw`` has exactly the ``expected`` headers.

    A last line of defence: whatever went wrong upstream, a message whose parsed
    header names differ from the ones we set is never sent.
    """
    parsed = BytesHeaderParser(policy=compat32).parsebytes(raw)
    found = sorted(name.lower() for name in parsed)
    wanted = sorted(name.lower() for name in expected)
    if found != wanted:
        raise UnsafeHeaderText(f"rendered message has headers {found}, expected {wanted}")
    if parsed.defects:
        raise UnsafeHeaderText(f"rendered message has header defects: {parsed.defects}")
