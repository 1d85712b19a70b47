"""A non-ASCII header in encoded words, a word at a time (issue 11): the same line as
``email.header.Header`` writes, for any text and any header name the builder may get."""

from __future__ import annotations

from email import policy, quoprimime
from email.header import Header

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tocsin.headers import clean_header_text
from tocsin.message import _Q_MAP, _encoded_words

SAFE = st.characters(blacklist_categories=("Cc", "Zl", "Zp", "Cs"))
# Text that Q suits (mostly ASCII letters) and text that B suits, each long enough to
# need several words, with characters of 2, 3 and 4 octets at every cut.
PIECES = st.sampled_from(["a", "b", " ", "ä", "ü", "°", "–", "€", "𐀀", "x" * 20, "=", "_", "?"])
TEXTS = (
    st.one_of(
        st.text(SAFE, min_size=1, max_size=300),
        st.lists(PIECES, min_size=1, max_size=120).map("".join),
    )
    .map(clean_header_text)
    .filter(lambda t: not t.isascii())
)


def _library(name: str, value: str) -> bytes:
    raw = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return policy.SMTP.fold_binary(name, raw)


@settings(max_examples=1500)
@given(value=TEXTS, name=st.sampled_from(["Subject", "X", "X-Tocsin-Note", "In-Reply-To"]))
@example(value="ä" * 200, name="Subject")  # Q and B cost the same per character
@example(value="a" * 56 + "ä" + "a" * 100, name="Subject")  # "=C3=A4" across the cut
@example(value="a" * 54 + "€" + "a" * 100, name="Subject")
@example(value="a" * 54 + "ü" + "a" * 100, name="Subject")  # "=BC" just past the cut
@example(value="[ALARM] Fire – Hall – Detector 1: smoke", name="Subject")
def test_the_same_line_as_email_header(value: str, name: str) -> None:
    assert _encoded_words(name, value) == _library(name, value)


def test_the_q_map_is_the_library_s() -> None:
    assert [_Q_MAP[octet] for octet in range(256)] == quoprimime._QUOPRI_HEADER_MAP
