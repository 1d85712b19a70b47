"""The acknowledgement link's token, the public URL check and the key file (issue 13)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.ack import (
    AckSigner,
    PublicUrlProblem,
    TokenExpired,
    TokenInvalid,
    TokenRefused,
    check_public_url,
    token_digest,
)
from tocsin.errors import ConfigError
from tocsin.store import load_ack_key

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NOW = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_token_names_its_event_and_recipient_and_expires_after_its_lifetime() -> None:
    clock = Clock()
    signer = AckSigner(KEY, lifetime=3600, clock=clock)
    token = signer.sign("01JEVENT", "anna")
    claim = signer.verify(token)
    assert (claim.event_id, claim.user_id, claim.expires_at) == ("01JEVENT", "anna", NOW + 3600)
    clock.now = NOW + 3599
    assert signer.verify(token).user_id == "anna"
    clock.now = NOW + 3600
    with pytest.raises(TokenExpired):
        signer.verify(token)


def test_two_tokens_for_the_same_event_and_user_differ() -> None:
    signer = AckSigner(KEY)
    assert signer.sign("e", "u") != signer.sign("e", "u")  # a nonce: digests never collide


def test_a_token_of_another_key_is_refused_as_invalid() -> None:
    token = AckSigner(OTHER_KEY).sign("e", "anna")
    with pytest.raises(TokenInvalid):
        AckSigner(KEY).verify(token)


@pytest.mark.parametrize(
    "token", ["", ".", "abc", "a.b.c", "é.é", "x" * 700, "eyJ9.", ".AAAA", "!!!!.????"]
)
def test_junk_is_refused_as_invalid(token: str) -> None:
    with pytest.raises(TokenInvalid):
        AckSigner(KEY).verify(token)


def test_a_recipient_cannot_make_the_token_name_someone_else() -> None:
    """Swapping the payload of one token onto the signature of another fails."""
    signer = AckSigner(KEY)
    anna, bob = signer.sign("e", "anna"), signer.sign("e", "bob")
    forged = anna.split(".")[0] + "." + bob.split(".")[1]
    with pytest.raises(TokenInvalid):
        signer.verify(forged)


def test_a_short_key_or_no_lifetime_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        AckSigner(b"short")
    with pytest.raises(ValueError, match="positive"):
        AckSigner(KEY, lifetime=0)


def test_the_digest_is_stable_and_differs_per_token() -> None:
    signer = AckSigner(KEY)
    a, b = signer.sign("e", "u"), signer.sign("e", "u")
    assert token_digest(a) == token_digest(a) != token_digest(b)
    assert len(token_digest(a)) == 64


TOKEN = AckSigner(KEY, clock=Clock()).sign("01JEVENTID0000000000000000", "anna")


@settings(max_examples=400, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=len(TOKEN) - 1),
    replacement=st.characters(codec="ascii"),
)
def test_any_change_of_one_character_is_refused(position: int, replacement: str) -> None:
    tampered = TOKEN[:position] + replacement + TOKEN[position + 1 :]
    signer = AckSigner(KEY, clock=Clock())
    if tampered == TOKEN:
        assert signer.verify(tampered).user_id == "anna"
        return
    try:
        claim = signer.verify(tampered)
    except TokenInvalid:
        return
    # base64's last character may carry unused bits: only a decoding to the same bytes
    # passes, and then the claim is exactly the original one.
    assert (claim.event_id, claim.user_id) == ("01JEVENTID0000000000000000", "anna")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_that_is_not_a_token_is_refused(text: str) -> None:
    with pytest.raises(TokenRefused):
        AckSigner(KEY, clock=Clock()).verify(text)


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=1, max_value=len(TOKEN) - 1), extra=st.text(max_size=5))
def test_a_cut_or_extended_token_is_refused(cut: int, extra: str) -> None:
    for tampered in (TOKEN[:cut], TOKEN + "A" + extra):
        with pytest.raises(TokenRefused):
            AckSigner(KEY, clock=Clock()).verify(tampered)


# ---------------------------------------------------------------- the public URL
@pytest.mark.parametrize(
    ("raw", "url", "warning"),
    [
        ("", None, None),
        ("   ", None, None),
        ("https://tocsin.example.com/", "https://tocsin.example.com", None),
        ("https://tocsin.example.com:8443/base/", "https://tocsin.example.com:8443/base", None),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080", None),
        ("http://localhost:8080", "http://localhost:8080", None),
        ("http://[::1]:8080", "http://[::1]:8080", None),
        ("http://tocsin.lan", "http://tocsin.lan", "public_url_plain_http"),
        ("http://192.168.1.10", "http://192.168.1.10", "public_url_plain_http"),
    ],
)
def test_good_public_urls(raw: str, url: str | None, warning: str | None) -> None:
    assert check_public_url(raw) == (url, warning)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("tocsin.example.com", "public_url_not_url"),
        ("ftp://tocsin.example.com", "public_url_not_url"),
        ("https://", "public_url_not_url"),
        ("https://host:port", "public_url_not_url"),
        ("javascript:alert(1)", "public_url_not_url"),
        ("https://admin:secret@tocsin.example.com", "public_url_credentials"),
        ("https://admin@tocsin.example.com", "public_url_credentials"),
        ("https://tocsin.example.com/?a=1", "public_url_query"),
        ("https://tocsin.example.com/#x", "public_url_query"),
        ("https://tocsin.example.com/a b", "public_url_bad_character"),
        ("https://tocsin.example.com/\r\nBcc: x@y", "public_url_bad_character"),
        ("https://tocsïn.example.com", "public_url_bad_character"),
        ("https://example.com/" + "a" * 300, "public_url_too_long"),
    ],
)
def test_bad_public_urls_are_refused_with_a_reason(raw: str, code: str) -> None:
    with pytest.raises(PublicUrlProblem) as caught:
        check_public_url(raw)
    assert caught.value.code == code
    assert "secret" not in str(caught.value)


# ---------------------------------------------------------------- the key file
def test_the_key_file_is_made_once_with_mode_0600_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "data" / "ack.key"
    key = load_ack_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_ack_key(path) == key


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ack.key"
    load_ack_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_ack_key(path)


def test_a_key_file_without_a_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ack.key"
    path.write_bytes(b"not base64!\n")
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="holds no key"):
        load_ack_key(path)


# ---------------------------------------------------------------- the logs
def test_the_token_never_reaches_the_log_lines() -> None:
    """uvicorn's access line names the path: the link's token is scrubbed from it."""
    import io
    import logging

    from tocsin.deploy.logs import LogFormat, configure_logging

    token = AckSigner(KEY).sign("01JEVENT", "anna")
    for fmt in (LogFormat.TEXT, LogFormat.JSON):
        stream = io.StringIO()
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            configure_logging(fmt, level="info", stream=stream)
            access = logging.getLogger("uvicorn.access")
            access.info(
                '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/ack/{token}", "1.1", 200
            )
        finally:  # give pytest's own log handlers back
            root.handlers[:] = handlers
            root.setLevel(level)
        written = stream.getvalue()
        assert "/ack/<secret>" in written
        assert token not in written
        assert token.split(".")[1] not in written
