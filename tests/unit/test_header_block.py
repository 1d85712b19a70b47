"""The run-time proof of a rendered header block (issue 11): our own reading
(:func:`check_header_block`) on every message, the library's parse-back
(:func:`verify_rendered_headers`) where a line of the library's writing is in it.

Our reading must never let through what the parse-back refuses, and every message the
builder writes without the parse-back must be one the parse-back accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tocsin.message
from tocsin.headers import (
    UnsafeHeaderText,
    check_header_block,
    clean_header_text,
    verify_rendered_headers,
)
from tocsin.message import compose

NAMES = ["From", "To", "Subject", "Date", "Message-ID", "Bcc", "X-A", "from", "References"]
# Pieces of a line: text, and whatever could break or bend a header block.
PIECES = st.one_of(
    st.sampled_from(["\r\n", "\r", "\n", "\r\n\r\n", "\r\n ", "\r\n\t", " ", "\t", ":", "From ",
                     "Bcc:", "Bcc: x", "\x00", "\x85", "\u2028", "=?utf-8?q?x?=", "ä"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
)  # fmt: skip
VALUES = st.lists(PIECES, max_size=6).map("".join)
FIELDS = st.lists(st.tuples(st.sampled_from(NAMES), VALUES), min_size=1, max_size=6)


def _block(fields: list[tuple[str, str]], *, tail: str = "\r\n") -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in fields).encode() + tail.encode()


@settings(max_examples=2000)
@given(
    fields=FIELDS,
    expected=st.none() | st.lists(st.sampled_from(NAMES), max_size=6),
    tail=st.sampled_from(["\r\n", "", "\n", "\r\nX: y\r\n\r\n", "\r\n\r\n", "\r\nbody"]),
)
@example(fields=[("Subject", "s\r\nBcc: x@evil.test")], expected=["Subject"], tail="\r\n")
@example(fields=[("Subject", "s\r\n\r\nX: y")], expected=["Subject"], tail="\r\n")
@example(fields=[("Subject", "s\rBcc: x")], expected=["Subject"], tail="\r\n")
@example(fields=[("Subject", "s\nBcc: x")], expected=["Subject"], tail="\r\n")
@example(fields=[("Subject", "s\r\n x")], expected=["Subject"], tail="\r\n")  # folded: fine
def test_what_our_reading_lets_through_the_parse_back_lets_through(fields, expected, tail):
    raw = _block(fields, tail=tail)
    names = [name for name, _ in fields] if expected is None else expected
    try:
        check_header_block(raw, names)
    except UnsafeHeaderText:
        return
    verify_rendered_headers(raw, names)  # never stricter than ours


@given(st.lists(st.tuples(st.sampled_from(NAMES), st.lists(VALUES, max_size=3)), min_size=1))
def test_a_well_formed_block_passes_both(fields):
    # Values without CR or LF, folded with CRLF + space: what a writer should give.
    def clean(value: str) -> str:
        return value.replace("\r", "").replace("\n", "")

    lines = [
        f"{name}: {clean(first)}" + "".join(f"\r\n {clean(v)}" for v in rest)
        for name, (first, *rest) in ((n, v or [""]) for n, v in fields)
    ]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
    names = [name for name, _ in fields]
    check_header_block(raw, names)
    verify_rendered_headers(raw, names)


@pytest.mark.parametrize("name", ["X Y", "X:Y", "", "Äh", "X\r\nBcc"])
def test_a_name_that_is_no_field_name_is_refused(name):
    with pytest.raises(UnsafeHeaderText):
        check_header_block(f"{name}: v\r\n\r\n".encode(), [name])


# ------------------------------------------------------------------ the builder's side
SAFE = st.characters(blacklist_categories=("Cc", "Zl", "Zp", "Cs"))
TEXT = st.one_of(
    st.text(SAFE, max_size=150).map(clean_header_text),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=150),
)
ADDRESSES = ["ops@example.net", "a" * 70 + "@example.net", "ops@bücher.example",
             "jörg@example.net", "o'neil@example.com", "x@localhost"]  # fmt: skip


def _head(content: bytes) -> bytes:
    return content.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"


@settings(max_examples=500)
@given(
    subject=TEXT,
    name=TEXT,
    to=st.lists(st.sampled_from(ADDRESSES), min_size=1, max_size=3, unique=True),
    html=st.none() | st.just("<p>x</p>"),
    parent=st.none() | st.sampled_from(["<p@example.com>", "<" + "p" * 80 + "@example.com>"]),
    extra=st.none() | TEXT,
)
def test_every_message_the_builder_writes_passes_the_parse_back(
    subject, name, to, html, parent, extra
):
    headers = {"In-Reply-To": parent, "References": parent} if parent else {}
    if extra:
        headers["X-Tocsin-Note"] = extra
    mail = compose(
        sender="alarm@example.com",
        to=to,
        subject=subject,
        text="x",
        html=html,
        sender_name=name,
        date=datetime(2026, 1, 1, tzinfo=UTC),
        headers=headers,
    )
    names = ["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", *headers]
    names += ["Content-Type", "Content-Transfer-Encoding", "MIME-Version"] if html is None else [
        "MIME-Version", "Content-Type"]  # fmt: skip
    verify_rendered_headers(_head(mail.content), names)  # what run time may skip
    check_header_block(_head(mail.content), names)


class _Spy:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, raw: bytes, expected: object) -> None:
        self.calls += 1
        verify_rendered_headers(raw, expected)  # type: ignore[arg-type]


def _compose(subject: str, **more: object) -> None:
    compose(sender="alarm@example.com", to=["ops@example.net"], subject=subject, text="x",
            sender_name="Tocsin", **more)  # type: ignore[arg-type]  # fmt: skip


def test_the_library_parse_back_runs_only_where_the_library_wrote_a_line(monkeypatch):
    spy = _Spy()
    monkeypatch.setattr(tocsin.message, "verify_rendered_headers", spy)
    _compose("warm the sender's From line")  # parsed back once, when it is made
    spy.calls = 0
    _compose("[ALARM] Fire – Hall – Detector 1: smoke")  # encoded words: our writer
    _compose("[ALARM] Fire - Hall")  # plain
    _compose("[ALARM] Feuer – Gebäude " * 4, headers={"In-Reply-To": "<a@example.com>"})
    assert spy.calls == 0
    _compose("x" * 80)  # an ASCII line longer than 78: the library folds it
    assert spy.calls == 1
    _compose("s", headers={"In-Reply-To": "<" + "p" * 80 + "@example.com>"})
    assert spy.calls == 2


def test_the_sender_line_is_parsed_back_when_it_is_made(monkeypatch):
    spy = _Spy()
    monkeypatch.setattr(tocsin.message, "verify_rendered_headers", spy)
    tocsin.message._from_line.cache_clear()
    for _ in range(3):
        _compose("s")
    assert spy.calls == 1


@pytest.mark.parametrize(
    "injected", [b"Subject: s\r\nBcc: x@evil.test\r\n", b"Subject: s\r\n\r\nX: y\r\n",
                 b"Subject: s\rBcc: x@evil.test\r\n", b"Subject: s\nBcc: x@evil.test\r\n"]
)  # fmt: skip
def test_our_reading_stops_a_line_of_our_own_writing_that_went_wrong(monkeypatch, injected):
    # Even a line marked as proven (so the library's parse-back is skipped) is read.
    monkeypatch.setattr(tocsin.message, "_text_line", lambda *a: tocsin.message._Proven(injected))
    with pytest.raises(UnsafeHeaderText):
        _compose("s")
