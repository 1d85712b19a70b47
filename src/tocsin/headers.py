"""Header and command safety, enforced by our own code.

The Python on the target machines (3.11.7) predates the fixes for CVE-2024-6923
(newlines in encoded words not quoted by the email generator) and CVE-2023-27043
(``email.utils`` mis-parsing addresses).  So nothing that reaches a header or an
SMTP command is trusted to the standard library: every text is checked here first,
and a rendered message is parsed back to prove it has exactly the headers we set.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection, Sequence
from email.parser import BytesHeaderParser
from email.policy import compat32

__all__ = [
    "UnsafeHeaderText",
    "check_header_block",
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
# RFC 5322 §3.6.8: a field name is printable ASCII but the colon (no space).
_FIELD_NAME = re.compile(rb"[!-9;-~]+")


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


def check_header_block(raw: bytes, expected: Sequence[str]) -> None:
    """Raise :class:`UnsafeHeaderText` unless ``raw`` is exactly a header block with the
    ``expected`` fields, in that order: for each, its name, a colon and the rest of the
    line, then any continuation lines (starting with a space or tab), every line ended
    by CRLF; then one empty line and nothing after it.

    What :func:`verify_rendered_headers` proves with the library's parser, by our own
    reading in one regular-expression match (a few microseconds rather than tens): no
    line break but CRLF (the parser breaks at a lone CR or LF too), no empty line before
    the end (it would end the header block early), no line that is neither a field nor
    a continuation (a defect), and the field names one by one.  It is at least as
    strict (``tests/unit/test_header_block.py`` holds it to that), so a block it lets
    through is read by the parser as the same header names without a defect.
    """
    if _header_block(tuple(expected)).fullmatch(raw) is None:
        raise UnsafeHeaderText(f"rendered header block is not exactly the fields {expected}")


@functools.lru_cache(maxsize=64)
def _header_block(names: tuple[str, ...]) -> re.Pattern[bytes]:
    """The header block with these fields (a message has one of a few shapes: kept)."""
    fields = []
    for name in names:
        field = name.encode("ascii", "replace")
        if not name.isascii() or not _FIELD_NAME.fullmatch(field):
            raise UnsafeHeaderText(f"{name!r} is no header field name")
        fields.append(re.escape(field) + rb":[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*")
    return re.compile(b"".join(fields) + b"\r\n")
