"""SASL XOAUTH2 / OAUTHBEARER strings (RFC 7628): built, parsed back, refused when bent."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.secret import Secret
from tocsin.signin.sasl import (
    Mechanism,
    SASLSyntaxError,
    abort_response,
    choose_mechanism,
    error_challenge,
    initial_response,
    parse_error_challenge,
    parse_initial_response,
)

TOKEN = Secret("ya29.a0Af-H_tok~en+/==")


def test_xoauth2_is_googles_and_microsofts_format() -> None:
    raw = initial_response(Mechanism.XOAUTH2, user="alarms@contoso.com", token=TOKEN)
    assert raw == b"user=alarms@contoso.com\x01auth=Bearer ya29.a0Af-H_tok~en+/==\x01\x01"


def test_oauthbearer_is_rfc_7628_section_3_1() -> None:
    raw = initial_response(
        Mechanism.OAUTHBEARER, user="a,b=c@x.test", token=TOKEN, host="smtp.x.test", port=587
    )
    assert raw == (
        b"n,a=a=2Cb=3Dc@x.test,\x01host=smtp.x.test\x01port=587\x01"
        b"auth=Bearer ya29.a0Af-H_tok~en+/==\x01\x01"
    )


@pytest.mark.parametrize("mechanism", list(Mechanism))
@given(
    user=st.text(
        st.characters(
            min_codepoint=0x20, blacklist_characters="\x7f", blacklist_categories=("Cs",)
        ),
        min_size=1,
        max_size=40,
    ),
    token=st.from_regex(r"[A-Za-z0-9\-._~+/]{1,60}={0,2}", fullmatch=True),
)
def test_what_is_built_parses_back(mechanism: Mechanism, user: str, token: str) -> None:
    if mechanism is Mechanism.XOAUTH2 and "\x01" in user:
        return
    raw = initial_response(mechanism, user=user, token=Secret(token), host="h", port=25)
    creds = parse_initial_response(mechanism, raw)
    assert (creds.user, creds.token.reveal()) == (user, token)


@pytest.mark.parametrize(
    ("user", "token"),
    [
        ("a\r\nRCPT TO:<x>", "abc"),
        ("", "abc"),
        ("\ud800@x", "abc"),
        ("a@x", "abc\x01def"),
        ("a@x", "a b"),
    ],
)
def test_control_characters_and_bad_tokens_are_refused(user: str, token: str) -> None:
    for mechanism in Mechanism:
        with pytest.raises(SASLSyntaxError):
            initial_response(mechanism, user=user, token=Secret(token))


@pytest.mark.parametrize(
    ("mechanism", "raw"),
    [
        (Mechanism.XOAUTH2, b"user=a@x\x01auth=Bearer t\x01"),  # one ^A short
        (Mechanism.XOAUTH2, b"user=a@x\x01auth=Basic dA==\x01\x01"),
        (Mechanism.OAUTHBEARER, b"n,,\x01auth=Bearer t\x01\x01"),  # no user
        (Mechanism.OAUTHBEARER, b"p=x,a=u,\x01auth=Bearer t\x01\x01"),  # channel binding
        (Mechanism.OAUTHBEARER, b"n,a=u=41,\x01auth=Bearer t\x01\x01"),  # bad escape
        (Mechanism.OAUTHBEARER, b"n,a=u,\x01port=x\x01auth=Bearer t\x01\x01"),
        (Mechanism.OAUTHBEARER, b"\xff\x01\x01"),
    ],
)
def test_bent_responses_are_refused(mechanism: Mechanism, raw: bytes) -> None:
    with pytest.raises(SASLSyntaxError):
        parse_initial_response(mechanism, raw)


def test_the_standard_mechanism_is_preferred() -> None:
    assert choose_mechanism(["PLAIN", "XOAUTH2", "OAUTHBEARER"]) is Mechanism.OAUTHBEARER
    assert choose_mechanism(["login", "xoauth2"]) is Mechanism.XOAUTH2
    assert choose_mechanism(["PLAIN", "LOGIN"]) is None


def test_error_challenges_round_trip() -> None:
    doc = error_challenge(Mechanism.OAUTHBEARER, scope="s")
    assert json.loads(doc) == {"status": "invalid_token", "scope": "s"}
    assert parse_error_challenge(base64.b64encode(doc).decode()) == json.loads(doc)
    assert json.loads(error_challenge(Mechanism.XOAUTH2))["status"] == "401"
    assert parse_error_challenge("not base64!") == {}
    assert abort_response(Mechanism.OAUTHBEARER) == b"\x01"
    assert abort_response(Mechanism.XOAUTH2) == b""
