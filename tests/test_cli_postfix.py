"""`tocsin test-email` end to end: the real CLI, the real Postfix, the real Maildir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import RealSMTP, wait_for_delivery

pytestmark = pytest.mark.postfix

TO = "ops@example.net"
WRONG = "Wr0ng-But-Distinctive-Passw0rd"


class Tocsin:
    """Runs the installed `tocsin` command against one data directory."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.outputs: list[str] = []

    def __call__(
        self,
        *args: str,
        stdin: str | None = None,
        ok: bool | None = True,
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TOCSIN_DATA": str(self.data), "COLUMNS": "200", "NO_COLOR": "1"}
        done = subprocess.run(
            [sys.executable, "-m", "tocsin", *args],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.outputs += [done.stdout, done.stderr]
        if ok is not None:
            assert (done.returncode == 0) == ok, done.stdout + done.stderr
        return done


@pytest.fixture
def tocsin(tmp_path: Path) -> Tocsin:
    return Tocsin(tmp_path / "data")


def configure(
    tocsin: Tocsin,
    smtp: RealSMTP,
    encryption: str,
    port: int,
    password: str | None = None,
    *extra: str,
) -> None:
    tocsin(
        "settings",
        "set",
        "enabled=true",
        f"encryption={encryption}",
        "host=localhost",
        f"port={port}",
        "sender_address=alarm@example.com",
        "sender_name=Server room",
        f"username={smtp.user}",
        f"ca_file={smtp.ca_path}",
        "timeout=3",
        *extra,
    )
    tocsin("settings", "password", "--stdin", stdin=(password or smtp.password) + "\n")


@pytest.mark.parametrize("encryption", ["ssl", "starttls"])
def test_test_email_succeeds_with_auth(tocsin, real_smtp, encryption):
    port = real_smtp.smtps_port if encryption == "ssl" else real_smtp.submission_port
    configure(tocsin, real_smtp, encryption, port)
    done = tocsin("test-email", "--to", TO)
    for step in ("resolve", "connect", "tls", "ehlo", "auth", "mail_from", "rcpt_to", "data"):
        assert f"✓ {step}" in done.stdout, done.stdout
    assert "TLSv1.3" in done.stdout or "TLSv1.2" in done.stdout
    assert "logged in as tocsin" in done.stdout
    assert "Test email accepted by the server" in done.stdout
    report = tocsin("test-email", "--to", TO, "--json")
    message_id = json.loads(report.stdout)["message_id"]
    got = wait_for_delivery(real_smtp, message_id)
    assert "Authenticated sender" in str(got["Received"])
    assert got["From"] == "Server room <alarm@example.com>"
    assert got["Auto-Submitted"] == "auto-generated"
    assert "If you can read it, email notifications work" in got.get_body(("plain",)).get_content()
    assert "If you can read it" in got.get_body(("html",)).get_content()


def test_ssl_against_the_starttls_port_hints_starttls(tocsin, real_smtp):
    configure(tocsin, real_smtp, "ssl", real_smtp.submission_port)
    done = tocsin("test-email", "--to", TO, ok=False)
    assert done.returncode == 1
    assert "✗ tls" in done.stdout
    assert "Choose STARTTLS" in done.stdout


def test_starttls_against_the_ssl_port_hints_ssl(tocsin, real_smtp):
    configure(tocsin, real_smtp, "starttls", real_smtp.smtps_port)
    done = tocsin("test-email", "--to", TO, ok=False)
    assert "expects SSL" in done.stdout
    assert "Choose SSL" in done.stdout


def test_wrong_password_hints_credentials_and_app_password(tocsin, real_smtp):
    configure(tocsin, real_smtp, "starttls", real_smtp.submission_port, WRONG)
    done = tocsin("test-email", "--to", TO, ok=False)
    assert "✗ auth" in done.stdout
    assert "535" in done.stdout
    assert "refused the username or password" in done.stdout
    assert "app-specific password" in done.stdout


def test_starttls_where_not_offered_refuses_and_sends_nothing(tocsin, real_smtp):
    configure(tocsin, real_smtp, "starttls", real_smtp.plain_port)
    done = tocsin("test-email", "--to", TO, ok=False)
    assert "✗ starttls" in done.stdout
    assert "never falls back to plain text" in done.stdout
    report = json.loads(tocsin("test-email", "--to", TO, "--json", ok=False).stdout)
    sent = [s["step"] for s in report["steps"] if s["status"] == "ok"]
    assert sent == ["resolve", "connect", "connect", "ehlo"]
    with pytest.raises(AssertionError, match="no matching message"):
        wait_for_delivery(real_smtp, report["message_id"], timeout=1.0)


def test_password_appears_nowhere_in_clear_text(tocsin, real_smtp):
    """Output, errors, data files and the server log: neither password shows anywhere."""
    configure(tocsin, real_smtp, "starttls", real_smtp.submission_port, WRONG)
    tocsin("test-email", "--to", TO, ok=False)
    tocsin("test-email", "--to", TO, "--json", ok=False)
    tocsin("settings", "show")
    tocsin("settings", "show", "--json")
    tocsin("settings", "set", "encryption=none", ok=False)  # refused: password over plaintext
    tocsin("settings", "set", f"password={WRONG}x", ok=False)  # refused on the command line
    tocsin("settings", "password", "--stdin", stdin=real_smtp.password + "\n")
    tocsin("test-email", "--to", TO, "--json")
    blobs = [*tocsin.outputs]
    blobs += [p.read_bytes().decode("latin-1") for p in tocsin.data.rglob("*") if p.is_file()]
    for secret in (WRONG, real_smtp.password):
        assert not any(secret in blob for blob in blobs), secret
    assert '"password_set": true' in tocsin("settings", "show", "--json").stdout
    key = tocsin.data / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600


def test_incomplete_settings_refuse_the_test(tocsin):
    done = tocsin("test-email", "--to", TO, ok=False)
    assert done.returncode == 2
    assert "sender_address" in done.stderr
    assert "host" in done.stderr


def test_bad_recipient_is_refused_before_anything(tocsin):
    done = tocsin("test-email", "--to", "ops@example.net\r\nRCPT TO:<x@evil.test>", ok=False)
    assert done.returncode == 2
    assert "--to" in done.stderr


@pytest.mark.parametrize("field", ["sender_name", "host", "ehlo_name", "sender_address"])
def test_no_field_takes_a_line_break(tocsin, field):
    done = tocsin("settings", "set", f"{field}=x\r\nBcc: spy@evil.test", ok=False)
    assert done.returncode == 2
    assert field in done.stderr
    assert "Nothing was saved" in done.stderr


def test_delivered_message_has_exactly_our_headers(tocsin, real_smtp):
    configure(tocsin, real_smtp, "ssl", real_smtp.smtps_port)
    report = json.loads(tocsin("test-email", "--to", TO, "--json").stdout)
    got = wait_for_delivery(real_smtp, report["message_id"])
    ours = {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "auto-submitted",
        "mime-version",
        "content-type",
    }
    added_by_postfix = {"return-path", "delivered-to", "x-original-to", "received"}
    assert {k.lower() for k in got} == ours | added_by_postfix
    # Text and HTML, like the alarm emails: the encoding is each part's own header.
    assert got.get_content_type() == "multipart/alternative"
    parts = [p for p in got.walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    # The text quoted-printable, the HTML 7bit (ASCII, character references): as sent.
    assert [p["Content-Transfer-Encoding"] for p in parts] == ["quoted-printable", "7bit"]
    assert parts[1].get_content().isascii()
    assert "</html>" in parts[1].get_content()


def test_typed_settings_are_tried_against_postfix_and_never_saved(tocsin, real_smtp):
    """Saved: the wrong port and password; tried: the right ones, given on the command line."""
    configure(tocsin, real_smtp, "starttls", real_smtp.plain_port, WRONG)
    saved = tocsin("settings", "show", "--json").stdout
    port = f"port={real_smtp.submission_port}"
    done = tocsin(
        "test-email",
        "--to",
        TO,
        "--json",
        "--set",
        port,
        "--stdin",
        stdin=real_smtp.password + "\n",
    )
    report = json.loads(done.stdout)
    assert report["ok"] is True
    wait_for_delivery(real_smtp, report["message_id"])
    assert real_smtp.password not in done.stdout + done.stderr
    assert tocsin("settings", "show", "--json").stdout == saved  # nothing was saved
    again = tocsin("test-email", "--to", TO, ok=False)  # the saved settings still fail
    assert "✗ starttls" in again.stdout


def test_a_password_as_key_value_is_refused(tocsin, real_smtp):
    configure(tocsin, real_smtp, "starttls", real_smtp.submission_port)
    done = tocsin("test-email", "--to", TO, "--set", "password=hunter2-visible", ok=False)
    assert done.returncode == 2
    assert "tocsin test-email --to ADDRESS --password" in done.stderr
    assert "hunter2-visible" not in done.stdout + done.stderr
