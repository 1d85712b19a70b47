"""The quoted-printable body in C passes (issue 11): the same bytes as the library's
``quoprimime.body_encode`` path it replaced, for any text."""

from __future__ import annotations

import re
from email import quoprimime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tocsin.message import _QP_FEW, _QP_LITERAL, _quoted_printable


def reference(text: str) -> bytes:
    """``tocsin.message._quoted_printable`` as it was before (main 2f69c18): frozen."""
    lines = text.encode("utf-8").splitlines()
    encoded = quoprimime.body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), 78)
    return re.sub(r"\r\n|\r|\n", "\r\n", encoded).encode("ascii")


# What makes quoted-printable hard: "=" (its escape is three octets and must not be
# split), white space at a line's end, lines near and past 78, every kind of line
# break (str.splitlines() knows more than bytes.splitlines()), non-ASCII octets.
EDGES = st.sampled_from(
    ["=", " ", "\t", ".", "\r", "\n", "\r\n", "\n\r", "a", "ä", "–", "€", "𐀀", "\x00",
     "\x0b", "\x0c", "\x1c", "\x7f", "\x85", "\u2028", "\u2029", "=3D", "From "]
)  # fmt: skip
ANY_CHAR = st.characters(blacklist_categories=("Cs",))
PIECES = st.one_of(
    EDGES,
    st.text(ANY_CHAR, max_size=5),
    st.integers(60, 240).map(lambda n: "x" * n),  # a long run: soft breaks fall anywhere
    st.integers(70, 80).flatmap(lambda n: st.just("=" * n)),
)
TEXTS = st.one_of(
    st.text(ANY_CHAR, max_size=400),
    st.lists(PIECES, max_size=60).map("".join),
)


@settings(max_examples=3000)
@given(TEXTS)
@example("")
@example("\n")
@example("-- \nSig")
@example("x" * 76 + " ")  # 77: room for "=20"
@example("x" * 77 + " ")  # 78: room for the blank and a soft break
@example("x" * 78 + "\t")  # 79: only a soft break, the blank quoted on a line of its own
@example("x" * 75 + "=" + "y" * 10)  # an "=3D" across the cut, each way
@example("x" * 76 + "=" + "y" * 10)
@example("x" * 74 + "ä" * 5)
@example(".\n..\n. \n")
def test_the_same_bytes_as_the_library_encoder(text: str) -> None:
    assert _quoted_printable(text) == reference(text)


CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF)


@given(st.lists(CJK, min_size=40, unique=True).map("".join), TEXTS)
def test_text_with_many_octets_to_quote_takes_the_other_way_to_the_same_bytes(
    cjk: str, text: str
) -> None:
    # 40 such characters in UTF-8 are at least 17 distinct octets: more than _QP_FEW,
    # so the regex way is taken.
    assert len(set(cjk.encode()) - set(_QP_LITERAL)) > _QP_FEW
    mixed = cjk + text + cjk
    assert _quoted_printable(mixed) == reference(mixed)


def test_a_lone_surrogate_is_refused_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        reference("a\ud800")
    with pytest.raises(UnicodeEncodeError):
        _quoted_printable("a\ud800")


def test_the_literal_octets_are_the_library_s_body_map_less_cr() -> None:
    # Kept in step with the library's map; CR cannot reach the escaping (lines are
    # split at it first), so it is left out and would be quoted.
    library = {c for c in range(256) if quoprimime._QUOPRI_BODY_ENCODE_MAP[c] == chr(c)}
    assert set(_QP_LITERAL) == library - {13}
