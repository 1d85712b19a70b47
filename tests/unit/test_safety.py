"""Header safety, addresses, the message builder and secrets: pure functions, property-tested."""

from __future__ import annotations

import email
import pickle
from email import policy

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tocsin.address import InvalidAddress, parse_address, parse_known_address
from tocsin.headers import UnsafeHeaderText, check_header_text, clean_header_text
from tocsin.message import compose
from tocsin.secret import UNSET, Secret

LINE_BREAKS = [
    "\r",
    "\n",
    "\r\n",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x85",
    "\u2028",
    "\u2029",
    "\x00",
]


@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_every_line_break_is_refused(brk):
    with pytest.raises(UnsafeHeaderText):
        check_header_text(f"Server{brk}Bcc: x@evil.test", what="name")


@given(st.text())
def test_clean_header_text_never_leaves_a_break(text):
    cleaned = clean_header_text(text)
    assert not any(b in cleaned for b in LINE_BREAKS)
    assert "=?" not in cleaned
    assert len(cleaned) <= 200


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Zl", "Zp", "Cs")), max_size=60))
@settings(max_examples=200)
@example("0 ¡¡¡¡¡¡ࠀ𐀀𐀀𐀀𐀀𐀀𐀀 ¡ ¡")  # a space between two encoded words was dropped
def test_any_safe_subject_renders_to_exactly_our_headers(subject):
    subject = clean_header_text(subject)
    mail = compose(
        sender="alarm@example.com",
        to=["ops@example.net"],
        subject=subject,
        text="body",
        sender_name="Alarm",
    )
    parsed = email.message_from_bytes(mail.content, policy=policy.default)
    assert sorted(parsed.keys()) == sorted(
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "MIME-Version",
            "Content-Type",
            "Content-Transfer-Encoding",
        ]
    )
    assert str(parsed["Subject"]) == subject


@pytest.mark.parametrize(
    "evil",
    ["Fire\r\nBcc: x@evil.test", "Fire\nX-Evil: 1", "=?utf-8?b?RmlyZQ0KQmNjOiB4QGV2aWwudGVzdA==?="],
)
def test_compose_refuses_injection_in_subject_and_name(evil):
    with pytest.raises(ValueError, match=r"control character|encoded word"):
        compose(sender="a@example.com", to=["b@example.com"], subject=evil, text="x")
    with pytest.raises(ValueError, match=r"control character|encoded word"):
        compose(
            sender="a@example.com", to=["b@example.com"], subject="ok", text="x", sender_name=evil
        )


def test_compose_refuses_injection_in_addresses():
    with pytest.raises(InvalidAddress):
        compose(
            sender="a@example.com\r\nBcc: x@evil.test", to=["b@example.com"], subject="s", text="x"
        )
    with pytest.raises(InvalidAddress):
        compose(
            sender="a@example.com",
            to=["b@example.com>\r\nRCPT TO:<x@evil.test"],
            subject="s",
            text="x",
        )


def test_message_id_and_date_are_fixed_in_the_bytes():
    mail = compose(sender="a@example.com", to=["b@example.com"], subject="s", text="x")
    parsed = email.message_from_bytes(mail.content, policy=policy.default)
    assert parsed["Message-ID"] == mail.message_id
    assert mail.message_id.endswith("@example.com>")
    assert parsed["Auto-Submitted"] == "auto-generated"


def test_idn_domain_goes_out_as_ascii_without_smtputf8():
    mail = compose(sender="alarm@bücher.example", to=["ops@münchen.example"], subject="s", text="x")
    assert not mail.smtputf8
    assert mail.sender == "alarm@xn--bcher-kva.example"
    assert mail.recipients == ("ops@xn--mnchen-3ya.example",)
    mail.content.decode("ascii")  # nothing but ASCII on the wire


def test_non_ascii_local_part_needs_smtputf8():
    mail = compose(sender="alarm@example.com", to=["jörg@example.com"], subject="s", text="x")
    assert mail.smtputf8
    assert mail.recipients == ("jörg@example.com",)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "empty"),
        ("a@example.com ", "spaces at the start or the end"),
        ("a b@example.com", "contains a space"),
        ("alarm.example.com", "needs an @ sign"),
        ("@example.com", "nothing before the @ sign"),
        ("a..b@example.com", "two dots"),
        ("a@exa_mple.com", "not a valid domain name"),
        ("a@10.0.0.1", "not a valid domain name"),
        ("a@host.invalid", "can never receive mail"),
        ("<a@example.com>", "bare address"),
        ("a@example.com\n", "control character"),
        ("x" * 250 + "@example.com", "longer than"),
    ],
)
def test_parse_address_says_why(value, problem):
    with pytest.raises(InvalidAddress, match=problem):
        parse_address(value)
    for _ in range(2):  # the kept parse refuses the same way, every time (nothing kept)
        with pytest.raises(InvalidAddress, match=problem):
            parse_known_address(value)


@pytest.mark.parametrize(
    "value", ["alarm@example.com", "jörg@Bücher.example", "Alarm@Example.COM", "ops@company.local"]
)
def test_the_kept_parse_answers_as_parse_address(value):
    first = parse_known_address(value)
    assert first == parse_address(value)
    assert parse_known_address(value) is first  # kept, not parsed again


def test_secret_never_shows():
    secret = Secret("hunter2")
    assert "hunter2" not in f"{secret} {secret!r} {secret!s} {[secret]} {secret:>20}"
    assert secret.reveal() == "hunter2"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert repr(UNSET) == "UNSET"


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("alarm@company.local", "alarm@company.local"),
        ("alarm@localhost", "alarm@localhost"),
        ("alarm@intranet", "alarm@intranet"),
        ("Alarm@Mail.Corp.LOCAL", "Alarm@mail.corp.local"),
        ("alarm@site.internal", "alarm@site.internal"),
        ("alarm@router.home.arpa", "alarm@router.home.arpa"),
        ("alarm@bücher.local", "alarm@bücher.local"),
    ],
)
def test_internal_domains_are_accepted_and_marked(value, normal):
    address = parse_address(value)
    assert address.text == normal
    assert address.internal
    assert address.domain == normal.rpartition("@")[2]
    assert not parse_address("alarm@example.com").internal


def test_internal_domain_keeps_its_ascii_form():
    assert parse_address("alarm@bücher.local").ascii == "alarm@xn--bcher-kva.local"


@given(st.text(min_size=1, max_size=60))
@settings(max_examples=300, deadline=None)
def test_every_refusal_is_one_sentence_of_our_own_in_both_languages(value):
    try:
        parse_address(value)
    except InvalidAddress as exc:
        refusal = exc
    else:
        return
    texts = {language: refusal.text(language) for language in ("en", "de")}
    assert texts["en"] != texts["de"]
    for text in texts.values():
        assert text.endswith("."), text
        assert ". " not in text, text
        assert "@-sign" not in text  # email-validator's words never reach a user


def test_unsafe_character_class_is_exactly_the_unsafe_categories():
    import sys
    import unicodedata

    from tocsin.headers import _UNSAFE_CATEGORIES, _UNSAFE_CHARACTER

    differ = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if (unicodedata.category(chr(code)) in _UNSAFE_CATEGORIES)
        != bool(_UNSAFE_CHARACTER.fullmatch(chr(code)))
    ]
    assert differ == []


def _clean_by_category(value: str, limit: int = 200) -> str:
    """clean_header_text as it was written before (a loop over the characters)."""
    import unicodedata

    chars = [
        " " if unicodedata.category(c) in {"Cc", "Zl", "Zp"} or c.isspace() else c for c in value
    ]
    text = " ".join("".join(chars).split()).replace("=?", "= ?")
    return text[: limit - 1].rstrip() + "…" if len(text) > limit else text


@given(st.text(max_size=300))
@example("a\x85b\u2028c\u2029d\x00e\u3000f\x1cg  =?x?q?y?=")
def test_clean_header_text_same_as_the_loop_over_characters(text):
    assert clean_header_text(text) == _clean_by_category(text)
