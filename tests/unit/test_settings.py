"""The settings validator: one table of ports, errors versus advice, the port that follows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.secret import Secret
from tocsin.settings import DEFAULT_PORTS, EmailSettings, Encryption, apply_update, validate
from tocsin.validation import Level

COMPLETE = EmailSettings(
    enabled=True,
    sender_address="alarm@example.com",
    host="smtp.example.com",
    username="alarm@example.com",
    password=Secret("app-password"),
)


def codes(report, level=None):
    return {(i.field, i.code) for i in report.issues if level is None or i.level is level}


def test_defaults_are_off_and_secure():
    s = EmailSettings()
    assert (s.enabled, s.encryption, s.port, s.tls_verify) == (
        False,
        Encryption.STARTTLS,
        587,
        True,
    )
    assert validate(s).ok


def test_default_ports_table():
    assert DEFAULT_PORTS == {Encryption.NONE: 25, Encryption.SSL: 465, Encryption.STARTTLS: 587}


@pytest.mark.parametrize(("mode", "port"), [("ssl", 465), ("none", 25), ("starttls", 587)])
def test_port_follows_encryption_when_it_was_the_default(mode, port):
    updated, report = apply_update(EmailSettings(), {"encryption": mode})
    assert updated.port == port
    assert not report.errors


def test_port_the_user_chose_stays():
    chosen, _ = apply_update(EmailSettings(), {"port": "2525"})
    updated, _ = apply_update(chosen, {"encryption": "ssl"})
    assert updated.port == 2525


def test_explicit_port_in_same_update_wins():
    updated, _ = apply_update(EmailSettings(), {"encryption": "ssl", "port": 4650})
    assert updated.port == 4650


@given(st.lists(st.sampled_from(list(Encryption)), min_size=1, max_size=6))
def test_port_always_default_of_last_mode_if_never_chosen(modes):
    s = EmailSettings()
    for mode in modes:
        s, _ = apply_update(s, {"encryption": mode.value})
    assert s.port == DEFAULT_PORTS[modes[-1]]


def test_enabled_requires_sender_and_host():
    _, report = apply_update(EmailSettings(), {"enabled": "true"})
    assert {("sender_address", "required"), ("host", "required")} <= codes(report, Level.ERROR)


@pytest.mark.parametrize(
    "bad",
    [
        "not-an-address",
        "a@b.invalid",
        "Alarm <a@example.com>",
        "a@example.com\r\nBcc: x@evil.test",
        "a@exa mple.com",
        "a\u2028@example.com",
    ],
)
def test_bad_sender_is_an_error_naming_the_field(bad):
    _, report = apply_update(EmailSettings(), {"sender_address": bad})
    assert [i.field for i in report.errors] == ["sender_address"]
    assert report.errors[0].text("en")


@pytest.mark.parametrize("sender", ["alarm@company.local", "alarm@localhost", "alarm@intranet"])
def test_internal_sender_is_saved_with_a_warning(sender):
    updated, report = apply_update(EmailSettings(), {"sender_address": sender})
    assert report.ok
    assert updated.sender_address == sender
    (warning,) = [i for i in report.advice if i.code == "address_internal"]
    assert warning.field == "sender_address"
    assert "mail from the internet cannot reach it" in warning.text("en")
    assert "aus dem Internet" in warning.text("de")


def test_bad_sender_is_one_sentence_in_german():
    _, report = apply_update(EmailSettings(), {"sender_address": "alarm.example.com"})
    (error,) = report.errors
    assert error.code == "invalid_address"
    assert (
        error.text("de")
        == "Keine gültige E-Mail-Adresse: Das @-Zeichen fehlt (so: name@example.com)."
    )


def test_internationalised_sender_is_accepted_not_rewritten():
    updated, report = apply_update(EmailSettings(), {"sender_address": "alarm@bücher.example"})
    assert report.ok
    assert updated.sender_address == "alarm@bücher.example"


def test_encryption_none_is_saved_with_a_strong_warning():
    _, report = apply_update(COMPLETE, {"encryption": "none", "password": None})
    assert report.ok
    assert ("encryption", "encryption_none") in codes(report, Level.WARNING)


def test_password_over_plaintext_refused_unless_allowed():
    _, refused = apply_update(COMPLETE, {"encryption": "none"})
    assert ("encryption", "plaintext_auth") in codes(refused, Level.ERROR)
    _, allowed = apply_update(COMPLETE, {"encryption": "none", "allow_plaintext_auth": "yes"})
    assert allowed.ok
    assert ("allow_plaintext_auth", "plaintext_auth_allowed") in codes(allowed, Level.WARNING)


def test_sender_must_match_address_username():
    _, report = apply_update(COMPLETE, {"username": "someone@example.com"})
    assert ("sender_address", "sender_mismatch") in codes(report, Level.WARNING)
    _, same = apply_update(COMPLETE, {"username": "ALARM@example.com"})
    assert ("sender_address", "sender_mismatch") not in codes(same)


def test_sender_domain_compared_with_server_when_username_is_no_address():
    _, report = apply_update(COMPLETE, {"username": "alarm", "host": "mail.other.net"})
    assert ("sender_address", "sender_mismatch") in codes(report, Level.WARNING)
    _, same = apply_update(COMPLETE, {"username": "alarm", "host": "mail.example.com"})
    assert ("sender_address", "sender_mismatch") not in codes(same)


def test_app_password_tip_whenever_authentication_is_used():
    assert ("password", "app_password") in codes(validate(COMPLETE), Level.TIP)


def test_password_left_out_is_kept_and_cleared_explicitly():
    kept, _ = apply_update(COMPLETE, {"host": "smtp2.example.com"})
    assert kept.password == Secret("app-password")
    cleared, _ = apply_update(COMPLETE, {"password": None})
    assert cleared.password is None


def test_unknown_field_and_bad_values_are_field_named():
    _, report = apply_update(
        EmailSettings(),
        {"colour": "red", "port": "70000", "encryption": "tls", "tls_verify": "maybe"},
    )
    assert {i.field for i in report.errors} == {"colour", "port", "encryption", "tls_verify"}
    assert "none, ssl, starttls" in next(i for i in report.errors if i.field == "encryption").text()


@pytest.mark.parametrize("field", ["sender_name", "host", "ehlo_name", "username"])
@pytest.mark.parametrize(
    "evil",
    [
        "x\r\nRCPT TO:<a@evil.test>",
        "x\nBcc: a@evil.test",
        "x\x00",
        "=?utf-8?q?x=0D=0ABcc:_a@evil.test?=",
    ],
)
def test_no_field_accepts_line_breaks_or_encoded_words(field, evil):
    _, report = apply_update(EmailSettings(), {field: evil})
    assert field in {i.field for i in report.errors}


def test_insecure_tls_is_called_insecure():
    _, report = apply_update(COMPLETE, {"tls_verify": "false"})
    issue = next(i for i in report.issues if i.code == "insecure_tls")
    assert "Insecure" in issue.text("en")
    assert "Unsicher" in issue.text("de")


def test_every_issue_speaks_english_and_german():
    _, report = apply_update(
        EmailSettings(), {"enabled": True, "encryption": "none", "username": "u", "password": "p"}
    )
    for issue in report.issues:
        assert issue.text("en") != issue.text("de"), issue.code


def test_public_view_never_contains_the_password():
    view = COMPLETE.public()
    assert view["password"] is None
    assert view["password_set"] is True
    assert "app-password" not in repr(view)
